// SPDX-License-Identifier: GPL-2.0
/*
 * Memory hot-add glue shared by hv_dynmem.ko and hv_dynmem_selftest.ko (hotadd_selftest.c
 * includes this file): add_memory() for the driver core, the online-page callback that keeps
 * pages the host has not backed offline, and the memory notifier that reports offlined memory
 * back to the core.
 *
 * Bookkeeping: two sorted tables of disjoint, non-adjacent pfn ranges (adjacent ones are
 * merged), the memory we added and the part of it the host backs. They grow on demand; they
 * only ever grow from kglue_add_memory()/kglue_online_pages(), which the driver core calls
 * from its work item (process context), so the allocation is GFP_KERNEL and happens before the
 * spinlock is taken. The online callback and the notifier only read them under the spinlock.
 * A failed allocation is counted and turned into a refusal the core sees (-ENOMEM, transient),
 * never into an unrecorded range.
 *
 * Locks: hvdm_ha_mutex serialises the writers (held across add_memory(), which may call the
 * online callback synchronously when the kernel auto-onlines); hvdm_ha_lock protects the
 * tables against the readers. The callback never takes the mutex.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/memory.h>
#include <linux/memory_hotplug.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/list.h>
#include <linux/atomic.h>
#include <linux/page-flags.h>

#include "hv_dynmem_glue.h"
#include "kglue_internal.h"

struct hvdm_range {
	u64 start, end;		/* [start, end) in pfns */
};

struct hvdm_table {
	struct hvdm_range *r;
	unsigned int n, cap;
};

/* A MEM_OFFLINE range waiting for the driver core (kglue_drv_take_offlined). */
struct hvdm_offlined {
	struct list_head list;
	u64 start, pages;
};

static DEFINE_MUTEX(hvdm_ha_mutex);
static DEFINE_SPINLOCK(hvdm_ha_lock);
static struct hvdm_table hvdm_added, hvdm_backed;
static LIST_HEAD(hvdm_offline_q);
static bool hvdm_ha_on;
static atomic64_t hvdm_onlined = ATOMIC64_INIT(0);
static struct kglue_ha_stats hvdm_ha_st;	/* under hvdm_ha_lock */

/* Index of the range holding pfn, or -1. Caller holds hvdm_ha_lock. */
static int hvdm_find(const struct hvdm_table *t, u64 pfn)
{
	unsigned int lo = 0, hi = t->n;

	/* First range that ends after pfn. */
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (t->r[mid].end <= pfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->n && t->r[lo].start <= pfn ? (int)lo : -1;
}

static bool hvdm_overlaps(const struct hvdm_table *t, u64 start, u64 end)
{
	unsigned int i;

	for (i = 0; i < t->n; i++)
		if (t->r[i].start < end && start < t->r[i].end)
			return true;
	return false;
}

/*
 * Makes room for one more range (process context, hvdm_ha_mutex held, hvdm_ha_lock not):
 * 0 or -ENOMEM. Capacity doubles, starting at 16.
 */
static int hvdm_reserve(struct hvdm_table *t)
{
	struct hvdm_range *nr, *old;
	unsigned int cap;
	unsigned long flags;

	lockdep_assert_held(&hvdm_ha_mutex);
	if (t->n < t->cap)
		return 0;
	cap = t->cap ? t->cap * 2 : 16;
	if (cap < t->cap)
		return -ENOMEM;
	nr = kmalloc_array(cap, sizeof(*nr), GFP_KERNEL | __GFP_NOWARN);
	if (!nr)
		return -ENOMEM;
	spin_lock_irqsave(&hvdm_ha_lock, flags);
	if (t->n)
		memcpy(nr, t->r, t->n * sizeof(*nr));
	old = t->r;
	t->r = nr;
	hvdm_ha_st.range_capacity += cap - t->cap;
	t->cap = cap;
	spin_unlock_irqrestore(&hvdm_ha_lock, flags);
	kfree(old);
	return 0;
}

/*
 * Inserts [start, end) merging it with every range it overlaps or touches. Needs room for one
 * more range (hvdm_reserve). Caller holds hvdm_ha_lock.
 */
static void hvdm_insert(struct hvdm_table *t, u64 start, u64 end)
{
	unsigned int lo = 0, hi, i;

	/* First range that ends at or after start: it may touch or overlap. */
	while (lo < t->n && t->r[lo].end < start)
		lo++;
	/* One past the last range that starts at or before end. */
	hi = lo;
	while (hi < t->n && t->r[hi].start <= end)
		hi++;
	if (lo == hi) {
		if (WARN_ON_ONCE(t->n == t->cap))
			return;
		memmove(&t->r[lo + 1], &t->r[lo], (t->n - lo) * sizeof(t->r[0]));
		t->r[lo].start = start;
		t->r[lo].end = end;
		t->n++;
		return;
	}
	t->r[lo].start = min(t->r[lo].start, start);
	t->r[lo].end = max(t->r[hi - 1].end, end);
	for (i = hi; i < t->n; i++)
		t->r[lo + 1 + i - hi] = t->r[i];
	t->n -= hi - lo - 1;
}

static void hvdm_ha_update_counts(void)
{
	hvdm_ha_st.added_ranges = hvdm_added.n;
	hvdm_ha_st.backed_ranges = hvdm_backed.n;
}

/* ---- the online-page callback ---- */

/* Brings one page of our memory online, if the kernel had it held back. */
static void hvdm_online_one(struct page *p)
{
	if (PageOffline(p))
		__ClearPageOffline(p);
	generic_online_page(p, 0);
}

static void hvdm_online_page(struct page *pg, unsigned int order)
{
	u64 pfn = page_to_pfn(pg), n = 1ULL << order, i;
	unsigned long flags;
	int b;

	spin_lock_irqsave(&hvdm_ha_lock, flags);
	if (hvdm_find(&hvdm_added, pfn) < 0) {
		spin_unlock_irqrestore(&hvdm_ha_lock, flags);
		generic_online_page(pg, order);
		return;
	}
	/* Our memory: online only what the host backs; the rest stays offline until it is. */
	b = hvdm_find(&hvdm_backed, pfn);
	if (b >= 0 && pfn + n <= hvdm_backed.r[b].end) {
		/* The whole block is backed: one call at its order, as the kernel asked. */
		generic_online_page(pg, order);
		atomic64_add(n, &hvdm_onlined);
		spin_unlock_irqrestore(&hvdm_ha_lock, flags);
		return;
	}
	for (i = 0; i < n; i++) {
		struct page *p = pfn_to_page(pfn + i);

		if (hvdm_find(&hvdm_backed, pfn + i) < 0) {
			if (!PageOffline(p))
				__SetPageOffline(p);
			continue;
		}
		hvdm_online_one(p);
		atomic64_inc(&hvdm_onlined);
	}
	spin_unlock_irqrestore(&hvdm_ha_lock, flags);
}

/* ---- the memory notifier ---- */

static int hvdm_memory_event(struct notifier_block *nb, unsigned long action, void *data)
{
	struct memory_notify *mn = data;
	struct hvdm_offlined *o, *last;
	unsigned long flags;
	bool ours, merged = false;

	if (action != MEM_OFFLINE)
		return NOTIFY_OK;
	spin_lock_irqsave(&hvdm_ha_lock, flags);
	ours = hvdm_overlaps(&hvdm_added, mn->start_pfn, mn->start_pfn + mn->nr_pages);
	if (ours) {
		hvdm_ha_st.offline_events++;
		last = list_empty(&hvdm_offline_q) ? NULL :
			list_last_entry(&hvdm_offline_q, struct hvdm_offlined, list);
		if (last && last->start + last->pages == mn->start_pfn) {
			last->pages += mn->nr_pages;
			merged = true;
		}
	}
	spin_unlock_irqrestore(&hvdm_ha_lock, flags);
	if (!ours)
		return NOTIFY_OK;
	if (!merged) {
		/* Process context (the offlining task): GFP_KERNEL is fine here. */
		o = kmalloc(sizeof(*o), GFP_KERNEL | __GFP_NOFAIL);
		o->start = mn->start_pfn;
		o->pages = mn->nr_pages;
		spin_lock_irqsave(&hvdm_ha_lock, flags);
		list_add_tail(&o->list, &hvdm_offline_q);
		spin_unlock_irqrestore(&hvdm_ha_lock, flags);
	}
	/*
	 * The core updates its count in its next step; it must not be called from here (a step
	 * may be waiting in add_memory() for the hotplug lock this task holds).
	 */
	kglue_drv_kick();
	return NOTIFY_OK;
}

static struct notifier_block hvdm_memory_nb = {
	.notifier_call = hvdm_memory_event,
};

u32 kglue_drv_take_offlined(u64 *start, u64 *pages)
{
	struct hvdm_offlined *o;
	unsigned long flags;

	spin_lock_irqsave(&hvdm_ha_lock, flags);
	o = list_first_entry_or_null(&hvdm_offline_q, struct hvdm_offlined, list);
	if (o)
		list_del(&o->list);
	spin_unlock_irqrestore(&hvdm_ha_lock, flags);
	if (!o)
		return 0;
	*start = o->start;
	*pages = o->pages;
	kfree(o);
	return 1;
}

/* ---- setup ---- */

s32 kglue_ha_init(void)
{
	int ret;

	if (hvdm_ha_on)
		return -EBUSY;
	/* Only one online callback may be installed system-wide. */
	ret = set_online_page_callback(&hvdm_online_page);
	if (ret)
		return ret;
	ret = register_memory_notifier(&hvdm_memory_nb);
	if (ret) {
		restore_online_page_callback(&hvdm_online_page);
		return ret;
	}
	hvdm_ha_on = true;
	return 0;
}

void kglue_ha_exit(void)
{
	struct hvdm_offlined *o, *tmp;
	unsigned long flags;

	if (!hvdm_ha_on)
		return;
	unregister_memory_notifier(&hvdm_memory_nb);
	restore_online_page_callback(&hvdm_online_page);
	mutex_lock(&hvdm_ha_mutex);
	spin_lock_irqsave(&hvdm_ha_lock, flags);
	kfree(hvdm_added.r);
	kfree(hvdm_backed.r);
	memset(&hvdm_added, 0, sizeof(hvdm_added));
	memset(&hvdm_backed, 0, sizeof(hvdm_backed));
	list_for_each_entry_safe(o, tmp, &hvdm_offline_q, list) {
		list_del(&o->list);
		kfree(o);
	}
	memset(&hvdm_ha_st, 0, sizeof(hvdm_ha_st));
	spin_unlock_irqrestore(&hvdm_ha_lock, flags);
	hvdm_ha_on = false;
	mutex_unlock(&hvdm_ha_mutex);
	atomic64_set(&hvdm_onlined, 0);
}

/* ---- what the driver core calls ---- */

s32 kglue_add_memory(u64 start, u64 pages)
{
	unsigned long flags;
	int nid, ret;

	if (!hvdm_ha_on)
		return -EOPNOTSUPP;
	mutex_lock(&hvdm_ha_mutex);
	ret = hvdm_reserve(&hvdm_added);
	if (ret) {
		spin_lock_irqsave(&hvdm_ha_lock, flags);
		hvdm_ha_st.record_failures++;
		spin_unlock_irqrestore(&hvdm_ha_lock, flags);
		mutex_unlock(&hvdm_ha_mutex);
		pr_err("hot-add: no memory to record %llu pages at pfn %#llx\n", pages, start);
		return ret;
	}
	/* Recorded first: an auto-online inside add_memory() must already see it as ours. */
	spin_lock_irqsave(&hvdm_ha_lock, flags);
	hvdm_insert(&hvdm_added, start, start + pages);
	hvdm_ha_update_counts();
	spin_unlock_irqrestore(&hvdm_ha_lock, flags);

	nid = memory_add_physaddr_to_nid(PFN_PHYS(start));
	ret = add_memory(nid, PFN_PHYS(start), pages << PAGE_SHIFT, MHP_MERGE_RESOURCE);
	spin_lock_irqsave(&hvdm_ha_lock, flags);
	if (ret) {
		/* Take the range out again (it was not there before: the core never re-adds). */
		int i = hvdm_find(&hvdm_added, start);

		if (i >= 0) {
			struct hvdm_range *r = &hvdm_added.r[i];

			if (r->start == start && r->end == start + pages) {
				memmove(r, r + 1, (hvdm_added.n - i - 1) * sizeof(*r));
				hvdm_added.n--;
			} else if (r->end == start + pages) {
				r->end = start;
			} else if (r->start == start) {
				r->start = start + pages;
			} else {
				/* Inside a merged range: split it (room was reserved above). */
				u64 end = r->end;

				r->end = start;
				hvdm_insert(&hvdm_added, start + pages, end);
			}
		}
		hvdm_ha_st.add_refused++;
	} else {
		hvdm_ha_st.blocks_added++;
	}
	hvdm_ha_update_counts();
	spin_unlock_irqrestore(&hvdm_ha_lock, flags);
	mutex_unlock(&hvdm_ha_mutex);
	if (ret)
		pr_err("hot_add memory failed error is %d\n", ret);
	return ret;
}

/*
 * Onlines the pages of [pfn, end) held back in an online block (PageOffline), as few calls
 * as possible: naturally aligned runs at their order. Caller holds hvdm_ha_lock.
 */
static u64 hvdm_online_held(u64 pfn, u64 end)
{
	u64 now = 0;

	while (pfn < end) {
		struct page *pg = pfn_to_online_page(pfn);
		unsigned int order, o;
		u64 n, i;
		bool all = true;

		/* Only pages held back in memory we added (never, say, a ballooned page). */
		if (!pg || !PageOffline(pg) || hvdm_find(&hvdm_added, pfn) < 0) {
			pfn++;
			continue;
		}
		order = pfn ? min_t(unsigned int, __ffs64(pfn), HVDM_MAX_PAGE_ORDER) : HVDM_MAX_PAGE_ORDER;
		while (order && pfn + (1ULL << order) > end)
			order--;
		/* An aligned run of at most HVDM_MAX_PAGE_ORDER lies in one section: one online state. */
		for (o = order; o; o--) {
			n = 1ULL << o;
			all = true;
			for (i = 1; i < n; i++)
				if (!PageOffline(pfn_to_page(pfn + i))) {
					all = false;
					break;
				}
			if (all)
				break;
		}
		n = 1ULL << o;
		for (i = 0; i < n; i++)
			__ClearPageOffline(pfn_to_page(pfn + i));
		generic_online_page(pg, o);
		now += n;
		pfn += n;
	}
	return now;
}

u64 kglue_online_pages(u64 start, u64 pages)
{
	unsigned long flags;
	u64 now;
	int ret;

	if (!hvdm_ha_on)
		return 0;
	mutex_lock(&hvdm_ha_mutex);
	ret = hvdm_reserve(&hvdm_backed);
	spin_lock_irqsave(&hvdm_ha_lock, flags);
	if (ret) {
		/*
		 * Not recorded: pages of blocks still offline stay offline when the block is
		 * onlined (safe; they stay counted as added but not onlined, i.e. committed).
		 */
		hvdm_ha_st.record_failures++;
		pr_err_ratelimited("hot-add: no memory to record backed pages at pfn %#llx\n", start);
	} else {
		hvdm_insert(&hvdm_backed, start, start + pages);
	}
	hvdm_ha_update_counts();
	/* Pages of blocks that are already online were held back by the callback: online now. */
	now = hvdm_online_held(start, start + pages);
	spin_unlock_irqrestore(&hvdm_ha_lock, flags);
	mutex_unlock(&hvdm_ha_mutex);
	return now;
}

u64 kglue_drv_take_onlined(void)
{
	return atomic64_xchg(&hvdm_onlined, 0);
}

void kglue_ha_stats(struct kglue_ha_stats *out)
{
	unsigned long flags;

	spin_lock_irqsave(&hvdm_ha_lock, flags);
	*out = hvdm_ha_st;
	spin_unlock_irqrestore(&hvdm_ha_lock, flags);
}
