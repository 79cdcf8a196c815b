/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel API differences between the kernels hv_dynmem.ko supports, in one place: the glue's
 * C files and the bindings (hyperv-bindings/wrapper.h) include this header, so the Rust side
 * sees one ABI (kmod/include/hv_dynmem_glue.h) on every kernel. Where a definition can be
 * probed (a macro that exists or not) it is; otherwise LINUX_VERSION_CODE decides. Behaviour
 * differences and how the module adapts: docs/linux.md, "Kernels".
 */
#ifndef HV_DYNMEM_COMPAT_H
#define HV_DYNMEM_COMPAT_H

#include <linux/version.h>
#include <linux/mmzone.h>

/*
 * The kernels this glue knows. kmod/Makefile refuses any other with a message naming the
 * version (scripts/kmod-matrix tests that); this is the same check for a build that bypasses it.
 */
#define HVDM_KERNEL_MIN KERNEL_VERSION(6, 1, 0)
#define HVDM_KERNEL_END KERNEL_VERSION(7, 4, 0)
#if LINUX_VERSION_CODE < HVDM_KERNEL_MIN || LINUX_VERSION_CODE >= HVDM_KERNEL_END
#include <generated/utsrelease.h>
#pragma message("hv_dynmem: this kernel is " UTS_RELEASE)
#error "hv_dynmem: unsupported kernel version (this glue knows 6.1 to 7.3; see docs/linux.md)"
#endif

/*
 * The largest buddy order, inclusive. 6.1: MAX_ORDER is the number of orders (11); 6.4
 * made MAX_ORDER the largest order (10); 6.8 renamed it MAX_PAGE_ORDER.
 */
#if defined(MAX_PAGE_ORDER)
#define HVDM_MAX_PAGE_ORDER MAX_PAGE_ORDER
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
#define HVDM_MAX_PAGE_ORDER MAX_ORDER
#else
#define HVDM_MAX_PAGE_ORDER (MAX_ORDER - 1)
#endif

/* 6.3: struct hv_driver's .remove returns void. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define HVDM_REMOVE_RET void
#define HVDM_REMOVE_RETURN(x) return
#else
#define HVDM_REMOVE_RET int
#define HVDM_REMOVE_RETURN(x) return (x)
#endif

/*
 * Architectures. x86-64: everything. arm64 (as hv_balloon): no hot-add (the request carries
 * no NUMA node and arm64's memory_add_physaddr_to_nid() cannot find one), and only 4 KiB
 * kernel pages (Hyper-V's page size; kmod/Makefile names a 16K/64K kernel and stops, the
 * glue's static_assert is the same check for a build that bypasses it).
 */
#if defined(CONFIG_X86_64)
#define HVDM_HOT_ADD_CAP 1
#elif defined(CONFIG_ARM64)
#define HVDM_HOT_ADD_CAP 0
#else
#error "hv_dynmem: only x86-64 and arm64 kernels are supported"
#endif

#endif
