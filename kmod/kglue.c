// SPDX-License-Identifier: GPL-2.0
/*
 * Runtime glue shared by hv_dynmem.ko and hv_dynmem_selftest.ko: the services the Rust half
 * needs from the kernel (allocation, printk, page allocator, statistics, time) and the panic
 * guard. Each module compiles its own copy (kglue_selftest.c includes this file).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/log2.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/sched.h>
#include <linux/timekeeping.h>
#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/page-flags.h>
#include <linux/memory.h>
#include <asm/io.h>
#include <asm/mshyperv.h>

#include "hv_dynmem_glue.h"
#include "kglue_internal.h"

void *kglue_alloc(size_t size, size_t align)
{
	if (align > PAGE_SIZE)
		return NULL;
	/*
	 * kmalloc gives power-of-two sized objects natural alignment (and at least
	 * ARCH_KMALLOC_MINALIGN); round up when more than that is asked for.
	 */
	if (align > ARCH_KMALLOC_MINALIGN && size < align)
		size = align;
	if (align > ARCH_KMALLOC_MINALIGN && !is_power_of_2(size))
		size = roundup_pow_of_two(size);
	return kmalloc(size ? size : 1, GFP_KERNEL | __GFP_NOWARN);
}

void kglue_free(void *ptr)
{
	kfree(ptr);
}

void kglue_log(u32 level, const u8 *msg, size_t len)
{
	int n = len > INT_MAX ? INT_MAX : (int)len;

	switch (level) {
	case KGLUE_LEVEL_ERROR:
		pr_err("%.*s\n", n, msg);
		break;
	case KGLUE_LEVEL_WARN:
		pr_warn("%.*s\n", n, msg);
		break;
	case KGLUE_LEVEL_INFO:
		pr_info("%.*s\n", n, msg);
		break;
	default:
		pr_debug("%.*s\n", n, msg);
		break;
	}
}

/* ---- the page allocator (balloon) ---- */

/*
 * Kernel pages are Hyper-V's 4 KiB pages, so pfns need no conversion: always so on x86-64; on
 * arm64 only with CONFIG_ARM64_4K_PAGES (kmod/Makefile refuses 16K/64K kernels by name first).
 */
static_assert(PAGE_SIZE == HV_HYP_PAGE_SIZE,
	      "hv_dynmem needs 4 KiB kernel pages (arm64: CONFIG_ARM64_4K_PAGES)");

u64 kglue_alloc_block(u32 order)
{
	struct page *pg;

	if (order > HVDM_MAX_PAGE_ORDER)
		return 0;
	pg = alloc_pages(GFP_HIGHUSER | __GFP_NORETRY | __GFP_NOMEMALLOC | __GFP_NOWARN, order);
	if (!pg)
		return 0;
	/* Every page gets its own reference so pages can be given back one by one. */
	if (order)
		split_page(pg, order);
	return page_to_pfn(pg);
}

void kglue_set_offline(u64 pfn, u64 count)
{
	u64 i;

	for (i = 0; i < count; i++)
		__SetPageOffline(pfn_to_page(pfn + i));
	adjust_managed_page_count(pfn_to_page(pfn), -(long)count);
}

void kglue_free_offline(u64 pfn, u64 count)
{
	u64 i;

	if (WARN_ON_ONCE(!count || !pfn_valid(pfn) || !pfn_valid(pfn + count - 1)))
		return;
	adjust_managed_page_count(pfn_to_page(pfn), (long)count);
	for (i = 0; i < count; i++) {
		struct page *pg = pfn_to_page(pfn + i);

		if (WARN_ON_ONCE(!PageOffline(pg) || page_ref_count(pg) != 1))
			continue;
		__ClearPageOffline(pg);
		__free_page(pg);
	}
}

void kglue_meminfo(struct kglue_meminfo *out)
{
	struct sysinfo si;

	si_meminfo(&si);
	out->totalram = (u64)si.totalram * si.mem_unit / 4096;
	out->freeram = (u64)si.freeram * si.mem_unit / 4096;
	out->available = (u64)si_mem_available() * (PAGE_SIZE / 4096);
	out->committed = (u64)vm_memory_committed() * (PAGE_SIZE / 4096);
	out->page_size = PAGE_SIZE;
}

u64 kglue_alloc_pages(u32 order)
{
	struct page *pg;

	if (order > HVDM_MAX_PAGE_ORDER)
		return 0;
	/* Movable: freed again, these land on movable free lists, away from kernel allocations. */
	pg = alloc_pages(GFP_HIGHUSER_MOVABLE | __GFP_NORETRY | __GFP_NOWARN, order);
	return pg ? page_to_pfn(pg) : 0;
}

void kglue_free_pages(u64 pfn, u32 order)
{
	if (WARN_ON_ONCE(order > HVDM_MAX_PAGE_ORDER || !pfn_valid(pfn)))
		return;
	__free_pages(pfn_to_page(pfn), order);
}

void kglue_msleep(u32 ms)
{
	msleep(ms);
}

u64 kglue_virt_to_phys(const void *ptr)
{
	return virt_to_phys((void *)ptr);
}

u64 kglue_hv_privileges(void)
{
	return ((u64)ms_hyperv.priv_high << 32) | ms_hyperv.features;
}

u64 kglue_now_ns(void)
{
	return ktime_get_ns();
}

/* ---- the panic guard ---- */

/*
 * Every Rust entry point runs inside kglue_guarded_call(), which records the stack pointer of
 * its frame (kglue_guard_enter, guard.S) in a node on this C stack, linked into a list keyed
 * by task. The Rust panic handler calls kglue_panic(), which WARNs, marks the driver dead and
 * resumes the innermost guard of the current task (kglue_guard_escape), which then returns
 * -EFAULT. Rust code runs only in process context, so `current` identifies the context.
 */
struct kglue_guard {
	struct list_head link;
	struct task_struct *task;
	unsigned long sp;
};

static LIST_HEAD(kglue_guards);
static DEFINE_SPINLOCK(kglue_guards_lock);
static atomic_t kglue_dead = ATOMIC_INIT(0);

bool kglue_is_dead(void)
{
	return atomic_read(&kglue_dead) != 0;
}

int kglue_guarded_call(kglue_fn fn, void *arg)
{
	struct kglue_guard g = { .task = current, .sp = 0 };
	int ret;

	if (kglue_is_dead())
		return -ENODEV;
	if (WARN_ON_ONCE(!in_task()))
		return -EINVAL;
	spin_lock(&kglue_guards_lock);
	list_add(&g.link, &kglue_guards);
	spin_unlock(&kglue_guards_lock);

	ret = kglue_guard_enter(fn, arg, &g.sp);

	spin_lock(&kglue_guards_lock);
	list_del(&g.link);
	spin_unlock(&kglue_guards_lock);
	return ret;
}

void kglue_panic(const u8 *msg, size_t len)
{
	struct kglue_guard *g, *found = NULL;
	int n = len > INT_MAX ? INT_MAX : (int)len;

	atomic_set(&kglue_dead, 1);
	WARN(1, "Rust panic: %.*s; the driver is disabled\n", n, msg);

	spin_lock(&kglue_guards_lock);
	list_for_each_entry(g, &kglue_guards, link) {
		if (g->task == current) {
			found = g;
			break;
		}
	}
	spin_unlock(&kglue_guards_lock);
	if (found && found->sp)
		kglue_guard_escape(found->sp);
	/* No guard: return; the Rust side traps (ud2) and the kernel reports a BUG. */
}

/* ---- probe rules ---- */

u64 kglue_memory_block_pages(void)
{
	return memory_block_size_bytes() / 4096;
}

void kglue_probe_hibernation(struct kglue_drv_params *p)
{
	/*
	 * As hv_balloon: a VM that may hibernate must not hand memory to the host (the image
	 * must be restorable) and must not grow by hot-add; the host is still told both
	 * capabilities and the driver core refuses the requests.
	 */
	p->hibernation = hv_is_hibernation_supported();
	if (p->hibernation)
		p->hot_add = 0;
}

void kglue_probe_arch(struct kglue_drv_params *p)
{
	p->hot_add_cap = HVDM_HOT_ADD_CAP;
	if (!p->hot_add_cap)
		p->hot_add = 0;
}
