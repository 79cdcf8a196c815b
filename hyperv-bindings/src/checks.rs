//! Compile-time agreement between our hand-written wire types and the kernel's definitions.
//!
//! Each `const _` fails the build (not a test run) when the two disagree.

use crate::kernel as k;
use core::mem::size_of;

// The heat-hint input: an 8-byte header followed by 8-byte GPA page ranges, 511 per page.
const _: () = assert!(size_of::<k::hv_gpa_page_range>() == 8);
const _: () = assert!(size_of::<k::hv_memory_hint>() == 8);
const _: () = assert!(k::HVB_MEMORY_HINT_MAX_GPA_PAGE_RANGES == 511);
const _: () = assert!(k::HVB_HYP_PAGE_SIZE == 4096);

// Hypercall codes and the capability bit.
const _: () = assert!(k::HV_EXT_CALL_QUERY_CAPABILITIES == 0x8001);
const _: () = assert!(k::HV_EXT_CALL_MEMORY_HEAT_HINT == 0x8003);
const _: () = assert!(k::HV_EXT_MEMORY_HEAT_HINT_TYPE_COLD_DISCARD == 2);
const _: () = assert!(k::HVB_EXT_CAPABILITY_MEMORY_COLD_DISCARD_HINT == 1 << 8);

// Status values.
const _: () = assert!(k::HV_STATUS_SUCCESS == 0);
const _: () = assert!(k::HV_STATUS_INVALID_PARAMETER == 5);

// VMBus ring control page and packet descriptor.
const _: () = assert!(k::HVB_VMBUS_RING_HEADER_SIZE == 4096);
const _: () = assert!(size_of::<k::vmpacket_descriptor>() == 16);
const _: () = assert!(k::HVB_VM_PKT_DATA_INBAND == 6);

// The page-reporting batch fits one heat-hint hypercall.
const _: () = assert!(k::HVB_PAGE_REPORTING_CAPACITY <= k::HVB_MEMORY_HINT_MAX_GPA_PAGE_RANGES);
