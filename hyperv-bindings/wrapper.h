/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bindgen input for hyperv-bindings: the target kernel's Hyper-V definitions plus the
 * hv_dynmem C<->Rust glue ABI. Read by the top-level build.rs with the kernel's own C flags.
 * Function-like macros (BIT(), sizeof expressions) are turned into enumerators here, because
 * bindgen only evaluates plain literal macros.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/hyperv.h>
#include <linux/page_reporting.h>
#include <asm/mshyperv.h>
/* The TLFS definitions: asm-generic/hyperv-tlfs.h until 6.14, include/hyperv/ since 6.15. */
#if __has_include(<asm-generic/hyperv-tlfs.h>)
#include <asm-generic/hyperv-tlfs.h>
#else
#include <hyperv/hvhdk.h>
#endif
#include "hv_dynmem_glue.h"
#include "hvdm_compat.h"

enum hvb_consts {
	HVB_EXT_CAPABILITY_MEMORY_COLD_DISCARD_HINT = HV_EXT_CAPABILITY_MEMORY_COLD_DISCARD_HINT,
	HVB_MEMORY_HINT_MAX_GPA_PAGE_RANGES = HV_MEMORY_HINT_MAX_GPA_PAGE_RANGES,
	HVB_HYP_PAGE_SIZE = HV_HYP_PAGE_SIZE,
	HVB_PAGE_SIZE = PAGE_SIZE,
	HVB_PAGE_REPORTING_CAPACITY = PAGE_REPORTING_CAPACITY,
	HVB_PAGEBLOCK_ORDER = pageblock_order,
	HVB_MAX_ORDER = HVDM_MAX_PAGE_ORDER, /* the largest buddy order, inclusive */
	HVB_VM_PKT_DATA_INBAND = VM_PKT_DATA_INBAND,
	HVB_VMBUS_RING_HEADER_SIZE = sizeof(struct hv_ring_buffer),
	HVB_VMPACKET_DESCRIPTOR_SIZE = sizeof(struct vmpacket_descriptor),
};
