//! Compile-time agreement between our hand-written wire types and the kernel's definitions.
//!
//! Each `const _` fails the build (not a test run) when the two disagree. Bit positions inside
//! the kernel's bitfield unions cannot be read in a const context (bindgen's accessors are not
//! `const fn`); the in-kernel self-test `bindings` checks those at run time by decoding
//! [`hvcall::GpaPageRange`] values through the kernel's `hv_gpa_page_range` accessors.

use crate::kernel as k;
use core::mem::{offset_of, size_of};

// GPA page range (hvcall::GpaPageRange vs union hv_gpa_page_range).
const _: () = assert!(size_of::<hvcall::GpaPageRange>() == size_of::<k::hv_gpa_page_range>());
const _: () = assert!(size_of::<k::hv_gpa_page_range>() == 8);

// The heat-hint input: header (hvcall::MemoryHintHeader vs struct hv_memory_hint, whose
// flexible `ranges[]` array adds no size), then 8-byte ranges, 511 in one page.
const _: () = assert!(size_of::<hvcall::MemoryHintHeader>() == size_of::<k::hv_memory_hint>());
const _: () = assert!(hvcall::HEAT_HINT_HEADER_SIZE == size_of::<k::hv_memory_hint>());
const _: () = assert!(offset_of!(k::hv_memory_hint, ranges) == hvcall::HEAT_HINT_HEADER_SIZE);
const _: () =
    assert!(hvcall::MAX_HEAT_HINT_RANGES as u64 == k::HVB_MEMORY_HINT_MAX_GPA_PAGE_RANGES as u64);
const _: () = assert!(hvcall::HV_PAGE_SIZE as u64 == k::HVB_HYP_PAGE_SIZE as u64);
const _: () = assert!(
    hvcall::HeatType::COLD_DISCARD.0 as u64 == k::HV_EXT_MEMORY_HEAT_HINT_TYPE_COLD_DISCARD as u64
);

// Hypercall codes and the capability bit.
const _: () = assert!(
    hvcall::HypercallCode::EXT_QUERY_CAPABILITIES.0 as u64
        == k::HV_EXT_CALL_QUERY_CAPABILITIES as u64
);
const _: () = assert!(
    hvcall::HypercallCode::EXT_MEMORY_HEAT_HINT.0 as u64 == k::HV_EXT_CALL_MEMORY_HEAT_HINT as u64
);
const _: () = assert!(
    hvcall::ExtCapabilities::COLD_DISCARD_HINT.bits()
        == k::HVB_EXT_CAPABILITY_MEMORY_COLD_DISCARD_HINT as u64
);

// Status values the driver acts on.
const _: () = assert!(hvcall::HvStatus::SUCCESS.0 as u64 == k::HV_STATUS_SUCCESS as u64);
const _: () =
    assert!(hvcall::HvStatus::INVALID_PARAMETER.0 as u64 == k::HV_STATUS_INVALID_PARAMETER as u64);
const _: () = assert!(
    hvcall::HvStatus::INVALID_HYPERCALL_CODE.0 as u64 == k::HV_STATUS_INVALID_HYPERCALL_CODE as u64
);
const _: () = assert!(
    hvcall::HvStatus::INVALID_HYPERCALL_INPUT.0 as u64
        == k::HV_STATUS_INVALID_HYPERCALL_INPUT as u64
);
const _: () =
    assert!(hvcall::HvStatus::INVALID_ALIGNMENT.0 as u64 == k::HV_STATUS_INVALID_ALIGNMENT as u64);
const _: () =
    assert!(hvcall::HvStatus::ACCESS_DENIED.0 as u64 == k::HV_STATUS_ACCESS_DENIED as u64);
const _: () = assert!(
    hvcall::HvStatus::INSUFFICIENT_MEMORY.0 as u64 == k::HV_STATUS_INSUFFICIENT_MEMORY as u64
);

// VMBus ring control page (vmbus::mem vs struct hv_ring_buffer) and packet descriptor.
const _: () = assert!(vmbus::mem::CONTROL_PAGE_SIZE as u64 == k::HVB_VMBUS_RING_HEADER_SIZE as u64);
const _: () = assert!(
    vmbus::mem::ControlWord::WRITE_INDEX.byte_offset()
        == offset_of!(k::hv_ring_buffer, write_index)
);
const _: () = assert!(
    vmbus::mem::ControlWord::READ_INDEX.byte_offset() == offset_of!(k::hv_ring_buffer, read_index)
);
const _: () = assert!(
    vmbus::mem::ControlWord::INTERRUPT_MASK.byte_offset()
        == offset_of!(k::hv_ring_buffer, interrupt_mask)
);
const _: () = assert!(
    vmbus::mem::ControlWord::PENDING_SEND_SIZE.byte_offset()
        == offset_of!(k::hv_ring_buffer, pending_send_sz)
);
const _: () = assert!(
    vmbus::mem::ControlWord::FEATURE_BITS.byte_offset()
        == offset_of!(k::hv_ring_buffer, feature_bits)
);
const _: () = assert!(offset_of!(k::hv_ring_buffer, buffer) == vmbus::mem::CONTROL_PAGE_SIZE);
const _: () =
    assert!(size_of::<vmbus::packet::PacketDescriptor>() == size_of::<k::vmpacket_descriptor>());
const _: () = assert!(
    offset_of!(vmbus::packet::PacketDescriptor, packet_type)
        == offset_of!(k::vmpacket_descriptor, type_)
);
const _: () = assert!(
    offset_of!(vmbus::packet::PacketDescriptor, data_offset8)
        == offset_of!(k::vmpacket_descriptor, offset8)
);
const _: () = assert!(
    offset_of!(vmbus::packet::PacketDescriptor, length8)
        == offset_of!(k::vmpacket_descriptor, len8)
);
const _: () = assert!(
    offset_of!(vmbus::packet::PacketDescriptor, flags) == offset_of!(k::vmpacket_descriptor, flags)
);
const _: () = assert!(
    offset_of!(vmbus::packet::PacketDescriptor, transaction_id)
        == offset_of!(k::vmpacket_descriptor, trans_id)
);
const _: () =
    assert!(vmbus::packet::PacketType::IN_BAND.0 as u64 == k::HVB_VM_PKT_DATA_INBAND as u64);
const _: () = assert!(vmbus::DM_RING_DATA_SIZE == 16 * 1024);

// The page-reporting batch fits one heat-hint hypercall; pages are Hyper-V pages (x86-64, and
// the 4 KiB arm64 kernels the module builds for).
const _: () = assert!(k::HVB_PAGE_REPORTING_CAPACITY <= k::HVB_MEMORY_HINT_MAX_GPA_PAGE_RANGES);
const _: () = assert!(k::HVB_PAGE_SIZE as u64 == hvcall::HV_PAGE_SIZE as u64);
