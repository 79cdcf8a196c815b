/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ABI between the C glue of hv_dynmem.ko / hv_dynmem_selftest.ko and the Rust half
 * (kmod/rust). bindgen reads this header (through hyperv-bindings/wrapper.h), so the Rust side
 * uses exactly these declarations; nothing is restated by hand.
 *
 * Naming: kglue_* are implemented in C and called from Rust; hvdm_* are implemented in Rust
 * and called from C. Every hvdm_* entry runs in process context (workqueue or module init),
 * never in atomic context, and is wrapped by kglue_guarded_call() so that a Rust panic
 * disables the driver with a WARN instead of taking the machine down.
 */
#ifndef HV_DYNMEM_GLUE_H
#define HV_DYNMEM_GLUE_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdint.h>
#include <stddef.h>
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
#endif

/* Log levels, as the `log` crate orders them. */
enum kglue_level {
	KGLUE_LEVEL_ERROR = 1,
	KGLUE_LEVEL_WARN = 2,
	KGLUE_LEVEL_INFO = 3,
	KGLUE_LEVEL_DEBUG = 4,
	KGLUE_LEVEL_TRACE = 5,
};

/* One free block the kernel's page-reporting core handed over: a naturally aligned run of
 * 2^order pages starting at pfn (in kernel pages, PAGE_SIZE bytes). */
struct kglue_block {
	u64 pfn;
	u32 order;
	u32 reserved;
};

/* si_meminfo() plus what the DM status report needs, in 4 KiB pages. */
struct kglue_meminfo {
	u64 totalram;
	u64 freeram;
	u64 committed;
	u64 page_size;
};

/* ---- implemented in C ---- */

/* kmalloc(GFP_KERNEL) with natural alignment for power-of-two sizes; NULL when align > PAGE_SIZE. */
void *kglue_alloc(size_t size, size_t align);
void kglue_free(void *ptr);
/* printk at a level with the module's prefix; msg need not be NUL terminated. */
void kglue_log(u32 level, const u8 *msg, size_t len);
/* Called by the Rust panic handler: WARN, mark the driver dead, leave the Rust call through
 * the innermost kglue_guarded_call() of this task. Returns only if no guard is active. */
void kglue_panic(const u8 *msg, size_t len);

/* The page allocator. Returns the first pfn of 2^order pages, or 0 when none are free right
 * now (no retries, no warnings, no OOM killer). */
u64 kglue_alloc_block(u32 order);
void kglue_free_block(u64 pfn, u32 order);
void kglue_meminfo(struct kglue_meminfo *out);

/* Monotonic time in nanoseconds. */
u64 kglue_now_ns(void);

/* A Hyper-V hypercall through the kernel's hypercall page: control word, input and output
 * guest physical addresses. Returns the result word (U64_MAX when there is no hypercall page). */
u64 kglue_hypercall(u64 control, u64 input_gpa, u64 output_gpa);

/* Scratch page for hypercall input: returns its kernel address and physical address. */
u8 *kglue_hypercall_input_page(u64 *gpa);

/* Run fn(arg) so that a Rust panic inside returns here with -EFAULT instead of continuing.
 * Returns fn's result otherwise. Process context only. */
typedef int (*kglue_fn)(void *arg);
int kglue_guarded_call(kglue_fn fn, void *arg);

/* ---- implemented in Rust ---- */

/* Self-test module: runs test `index` (0-based) of the Rust suite, printing KTAP lines for its
 * subtests through kglue_log; returns the number of failed subtests, or < 0 if there is no such
 * test. */
int hvdm_selftest_count(void);
/* The name of test `index` as a NUL-terminated static string ("?" if there is no such test). */
const char *hvdm_selftest_name(int index);
int hvdm_selftest_run(void *index);
/* Panics on purpose (the panic guard test). */
int hvdm_selftest_panic(void *arg);

#endif /* HV_DYNMEM_GLUE_H */
