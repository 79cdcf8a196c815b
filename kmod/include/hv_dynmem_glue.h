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

/* A batch from the page-reporting core, as passed to hvdm_*_report(). */
struct kglue_batch {
	const struct kglue_block *blocks;
	u32 count;
};

/* si_meminfo(), si_mem_available() and vm_memory_committed(), in 4 KiB pages. */
struct kglue_meminfo {
	u64 totalram;
	u64 freeram;
	u64 available;
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

/* The page allocator (balloon). kglue_alloc_block returns the first pfn of 2^order pages, each
 * with its own reference (split), or 0 when none are free right now (no retries, no warnings,
 * no OOM killer). kglue_set_offline marks pages ballooned (PageOffline, managed count down);
 * kglue_free_offline undoes that and frees them page by page. */
u64 kglue_alloc_block(u32 order);
void kglue_set_offline(u64 pfn, u64 count);
void kglue_free_offline(u64 pfn, u64 count);
void kglue_meminfo(struct kglue_meminfo *out);
/* Plain high-order allocations (not split, not offline), for tests that shape free memory. */
u64 kglue_alloc_pages(u32 order);
void kglue_free_pages(u64 pfn, u32 order);
/* Sleeps (process context). */
void kglue_msleep(u32 ms);

/* Driver module only: memory hot-add. kglue_add_memory adds [start, start + pages) (4 KiB
 * pfns, whole memory blocks) to the kernel, 0 or -errno (-EEXIST: overlaps existing memory);
 * kglue_online_pages marks pages backed by the host so the online callback onlines them and
 * onlines those in already-online blocks now; returns how many were onlined now. */
s32 kglue_add_memory(u64 start, u64 pages);
u64 kglue_online_pages(u64 start, u64 pages);

/* Hot-add setup (kmod/hotadd.c, both modules): installs the online-page callback and the
 * memory notifier; 0 or -errno (-EBUSY: another driver owns the callback). kglue_ha_exit
 * removes both and forgets the bookkeeping. */
s32 kglue_ha_init(void);
void kglue_ha_exit(void);

/* The hot-add glue's bookkeeping (debugfs, self-test). */
struct kglue_ha_stats {
	u64 added_ranges;	/* merged pfn ranges added to the kernel */
	u64 backed_ranges;	/* merged pfn ranges the host backs */
	u64 range_capacity;	/* table entries allocated for both (they grow on demand) */
	u64 blocks_added;	/* successful add_memory() calls */
	u64 add_refused;	/* add_memory() calls the kernel refused */
	u64 record_failures;	/* bookkeeping allocations that failed (counted refusals) */
	u64 offline_events;	/* MEM_OFFLINE notifications for memory we added */
};
void kglue_ha_stats(struct kglue_ha_stats *out);

/* Memory the kernel took offline (MEM_OFFLINE in memory we added), oldest first: 1 with the
 * range in *start and *pages, 0 when none is waiting. The driver step passes each range to the
 * core (Driver::on_memory_offline). */
u32 kglue_drv_take_offlined(u64 *start, u64 *pages);

/* memory_block_size_bytes() in 4 KiB pages (the hot-add chunk). */
u64 kglue_memory_block_pages(void);

/* Monotonic time in nanoseconds. */
u64 kglue_now_ns(void);

/* A Hyper-V hypercall through the kernel's hv_do_hypercall() (x86-64: the hypercall page;
 * arm64: HVC #0 with the SMCCC function id): control word, input and output guest physical
 * addresses. Returns the result word (U64_MAX when the kernel has no hypercall page). */
u64 kglue_hypercall(u64 control, u64 input_gpa, u64 output_gpa);

/* The partition privilege mask (HV_PARTITION_PRIVILEGE_MASK) as the kernel's Hyper-V code read
 * it at boot: ms_hyperv.features (bits 31:0) and ms_hyperv.priv_high (bits 63:32), from CPUID
 * 0x40000003 on x86-64 and from the HV_REGISTER_FEATURES register on arm64. 0 outside Hyper-V.
 * hv_balloon checks HV_ENABLE_EXTENDED_HYPERCALLS in the same fields. */
u64 kglue_hv_privileges(void);

/* The physical address of kernel memory from kglue_alloc (direct map). */
u64 kglue_virt_to_phys(const void *ptr);

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
/* The self-test's page-reporting callback: arg is a struct kglue_batch. 0 = reported. */
int hvdm_selftest_report(void *arg);

/* ---- driver module (hv_dynmem.ko) ---- */

/* Module parameters and kernel facts handed to hvdm_drv_start(). */
struct kglue_drv_params {
	u32 pressure_report_delay;
	u32 hot_add;
	u32 reporting;		/* 0: off; 1: Hyper-V cold-discard hints via the page-reporting core */
	u32 reporting_order;	/* 0: the core's default (pageblock_order or page_reporting_order) */
	u64 memory_block_pages;	/* memory_block_size_bytes() / 4096 */
	u32 hibernation;	/* the VM may hibernate: balloon ignored, hot-add refused */
	u32 hot_add_cap;	/* advertise hot-add to the host (0 on arm64, as hv_balloon) */
};

/* Linux's probe rule: hv_is_hibernation_supported() sets p->hibernation and then forces
 * p->hot_add off. */
void kglue_probe_hibernation(struct kglue_drv_params *p);
/* The architecture's rule, as hv_balloon: hot-add is advertised (p->hot_add_cap = 1) on
 * x86-64; on arm64 it is neither advertised nor done (p->hot_add_cap = 0, p->hot_add forced
 * to 0): the hot-add request names no NUMA node and arm64 cannot derive one. */
void kglue_probe_arch(struct kglue_drv_params *p);

/* A byte buffer Rust formats text into (debugfs). */
struct kglue_buf {
	u8 *data;
	size_t cap;
	size_t len;
};

/* Rust: create the driver core and send the first version request. arg: kglue_drv_params. */
int hvdm_drv_start(void *arg);
/* Rust: one driver step (channel, timers, events). Returns milliseconds until the next step is
 * due (the glue also runs one whenever the channel callback fires). */
int hvdm_drv_step(void *arg);
/* Rust: tear the driver core down (remove). */
int hvdm_drv_stop(void *arg);
/* Rust: suspend (hibernation): the core stops all work; call after the work item is
 * cancelled, page reporting unregistered and the channel closed. */
int hvdm_drv_suspend(void *arg);
/* Rust: resume: the channel is open again; the core negotiates from scratch. */
int hvdm_drv_resume(void *arg);
/* Rust: format the debugfs file into arg (struct kglue_buf). */
int hvdm_drv_debugfs(void *arg);
/* Rust: the page-reporting callback (arg: struct kglue_batch); 0 = reported. */
int hvdm_drv_report(void *arg);

/* C: the DM channel. send: 0, -EAGAIN when the ring is full, other -errno. recv: 0 with
 * *len = 0 when empty, -ENOBUFS when buf is too small (*len = needed). */
s32 kglue_vmbus_send(const u8 *buf, u32 len, u64 trans_id);
s32 kglue_vmbus_recv(u8 *buf, u32 cap, u32 *len, u64 *trans_id);
/* C: drop the next incoming packet unread (the way out of -ENOBUFS): 0 with *len = its
 * payload length, or *len = 0 when empty; -EMSGSIZE if even a page cannot take it. */
s32 kglue_vmbus_discard(u32 *len);
/* C: page reporting on/off for the driver (called from hvdm_drv_step, never the callback). */
s32 kglue_drv_reporting_enable(u32 order);
void kglue_drv_reporting_disable(void);
/* C: pages the online callback brought online since the last call. */
u64 kglue_drv_take_onlined(void);

/* Self-test module only: register/unregister its page_reporting_dev_info with the kernel's
 * page-reporting core at `order` (0 = the core's default), and read the core's state for it
 * (0 idle, 1 requested, 2 active). */
int kglue_st_reporting_register(u32 order);
void kglue_st_reporting_unregister(void);
u32 kglue_st_reporting_state(void);
/* Self-test module only: the host end of its in-memory stand-in for the DM channel (the
 * driver entry points' kglue_vmbus_send/recv). Same return conventions as those. */
s32 kglue_st_host_send(const u8 *buf, u32 len);
s32 kglue_st_host_recv(u8 *buf, u32 cap, u32 *len);
/* Self-test module only: one past the highest page frame of any online node (the guest's RAM
 * as the simulated DM host sees it), in 4 KiB pages. */
u64 kglue_st_end_pfn(void);
/* Self-test module only: the RAM the kernel was told not to use (module parameters), for the
 * hot-add tests; *pages = 0 when there is none. */
void kglue_st_hot_add_area(u64 *start_pfn, u64 *pages);
/* Self-test module only: writes state[0..len) to the sysfs state file of the memory block
 * holding pfn (online_movable, offline, ...); 0 or -errno. */
s32 kglue_st_memory_block_state(u64 pfn, const u8 *state, u32 len);
/* Self-test module only: writes and reads back a pattern in each of `pages` allocated pages
 * from pfn; returns how many did not keep it. */
u64 kglue_st_fill_check(u64 pfn, u64 pages, u64 seed);

#endif /* HV_DYNMEM_GLUE_H */
