// SPDX-License-Identifier: GPL-2.0
/*
 * hv_dynmem_selftest.ko: runs the Rust half's in-kernel self-tests at load time and prints
 * KTAP. It has no hv_vmbus dependency, so it loads in any supported x86-64 or arm64 kernel (the
 * QEMU test boots Debian's cloud kernel with it, see scripts/kmod-test).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/nodemask.h>
#include <linux/page_reporting.h>
#include <linux/scatterlist.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/fs.h>
#include <linux/memory.h>

#include "hv_dynmem_glue.h"
#include "kglue_internal.h"

static bool panic_test = true;
module_param(panic_test, bool, 0444);
MODULE_PARM_DESC(panic_test, "Run the Rust panic guard test last (prints one WARN)");

#ifdef CONFIG_X86_64
/*
 * The hot-add tests add memory the kernel was told not to use (QEMU guest RAM above mem=):
 * by default 12800 MiB from 4 GiB, where QEMU's pc machine maps the RAM above its 3 GiB
 * low part (scripts/kmod-test boots -m 18G with mem=1G). 0 MiB: no such memory.
 */
static ulong hot_add_start_mib = 4096;
module_param(hot_add_start_mib, ulong, 0444);
MODULE_PARM_DESC(hot_add_start_mib, "Start of the RAM the kernel does not use (MiB)");
static ulong hot_add_mib = 12800;
module_param(hot_add_mib, ulong, 0444);
MODULE_PARM_DESC(hot_add_mib, "Size of the RAM the kernel does not use (MiB)");
#else
/* arm64: no hot-add (the hot_add_off test checks it is refused), so no area to add. */
static const ulong hot_add_start_mib, hot_add_mib;
#endif

/* ---- page reporting: the real kernel core calls st_report() with real free blocks ---- */

static struct page_reporting_dev_info st_prdev;
static bool st_registered;

static int st_report(struct page_reporting_dev_info *pr, struct scatterlist *sgl,
		     unsigned int nents)
{
	struct kglue_block blocks[PAGE_REPORTING_CAPACITY];
	struct kglue_batch batch = { .blocks = blocks, .count = 0 };
	struct scatterlist *sg;
	unsigned int i;

	/* The core never passes more than its capacity; refuse (unreported) if it ever does. */
	if (WARN_ON_ONCE(nents > PAGE_REPORTING_CAPACITY))
		return -EINVAL;
	for_each_sg(sgl, sg, nents, i) {
		unsigned int order = get_order(sg->length);

		blocks[i].pfn = page_to_pfn(sg_page(sg));
		/* A length that is not PAGE_SIZE << order is flagged with an impossible order. */
		blocks[i].order = (PAGE_SIZE << order) == sg->length ? order : U32_MAX;
		blocks[i].reserved = 0;
	}
	batch.count = nents;
	return kglue_guarded_call(hvdm_selftest_report, &batch) ? -EIO : 0;
}

int kglue_st_reporting_register(u32 order)
{
	int ret;

	if (st_registered)
		return -EBUSY;
	memset(&st_prdev, 0, sizeof(st_prdev));
	st_prdev.report = st_report;
	st_prdev.order = order;
	ret = page_reporting_register(&st_prdev);
	if (!ret)
		st_registered = true;
	return ret;
}

void kglue_st_reporting_unregister(void)
{
	if (st_registered) {
		page_reporting_unregister(&st_prdev);
		st_registered = false;
	}
}

u32 kglue_st_reporting_state(void)
{
	return st_registered ? (u32)atomic_read(&st_prdev.state) : 0;
}

/*
 * Hot-add is the driver's own code (hotadd_selftest.c includes kmod/hotadd.c); the hot-add
 * tests install its callback and notifier themselves. No work item here: the tests step the
 * driver themselves.
 */
void kglue_drv_kick(void)
{
}

/*
 * The driver entry points (hvdm_drv_*) run here against an in-memory stand-in for the DM
 * VMBus channel: two bounded packet queues, one per direction. No Hyper-V, so there is no
 * hypercall page (the reporter's probe finds no Hyper-V CPUID leaves and stays off anyway)
 * and page reporting for the driver is refused.
 */
#define ST_QLEN 16
#define ST_PKT_MAX 4096

struct st_pkt {
	u32 len;
	u8 data[ST_PKT_MAX];
};

struct st_queue {
	struct st_pkt pkt[ST_QLEN];
	unsigned int head, tail;	/* head: next to read; tail: next to write */
};

static struct st_queue st_g2h, st_h2g;
static DEFINE_SPINLOCK(st_q_lock);

static s32 st_put(struct st_queue *q, const u8 *buf, u32 len)
{
	s32 ret = 0;

	if (len > ST_PKT_MAX)
		return -EMSGSIZE;
	spin_lock(&st_q_lock);
	if (q->tail - q->head == ST_QLEN) {
		ret = -EAGAIN;
	} else {
		q->pkt[q->tail % ST_QLEN].len = len;
		memcpy(q->pkt[q->tail % ST_QLEN].data, buf, len);
		q->tail++;
	}
	spin_unlock(&st_q_lock);
	return ret;
}

static s32 st_get(struct st_queue *q, u8 *buf, u32 cap, u32 *len)
{
	s32 ret = 0;

	spin_lock(&st_q_lock);
	*len = 0;
	if (q->head != q->tail) {
		struct st_pkt *p = &q->pkt[q->head % ST_QLEN];

		*len = p->len;
		if (p->len > cap) {
			ret = -ENOBUFS;
		} else {
			memcpy(buf, p->data, p->len);
			q->head++;
		}
	}
	spin_unlock(&st_q_lock);
	return ret;
}

s32 kglue_vmbus_send(const u8 *buf, u32 len, u64 trans_id)
{
	return st_put(&st_g2h, buf, len);
}

s32 kglue_vmbus_recv(u8 *buf, u32 cap, u32 *len, u64 *trans_id)
{
	*trans_id = 0;
	return st_get(&st_h2g, buf, cap, len);
}

s32 kglue_vmbus_discard(u32 *len)
{
	spin_lock(&st_q_lock);
	*len = 0;
	if (st_h2g.head != st_h2g.tail) {
		*len = st_h2g.pkt[st_h2g.head % ST_QLEN].len;
		st_h2g.head++;
	}
	spin_unlock(&st_q_lock);
	return 0;
}

s32 kglue_st_host_send(const u8 *buf, u32 len)
{
	return st_put(&st_h2g, buf, len);
}

s32 kglue_st_host_recv(u8 *buf, u32 cap, u32 *len)
{
	return st_get(&st_g2h, buf, cap, len);
}

void kglue_st_hot_add_area(u64 *start_pfn, u64 *pages)
{
	*start_pfn = (u64)hot_add_start_mib << (20 - PAGE_SHIFT);
	*pages = (u64)hot_add_mib << (20 - PAGE_SHIFT);
}

/*
 * Writes `state` ("online_movable", "offline", ...) to the sysfs state file of the memory
 * block holding pfn, as udev or an administrator does: the kernel then onlines or offlines
 * it, calling the online callback or the memory notifier. 0 or -errno.
 */
s32 kglue_st_memory_block_state(u64 pfn, const u8 *state, u32 len)
{
	char path[64];
	struct file *f;
	loff_t pos = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/devices/system/memory/memory%llu/state",
		 PFN_PHYS(pfn) / memory_block_size_bytes());
	f = filp_open(path, O_WRONLY, 0);
	if (IS_ERR(f))
		return PTR_ERR(f);
	n = kernel_write(f, state, len, &pos);
	filp_close(f, NULL);
	return n < 0 ? (s32)n : 0;
}

/*
 * Writes a pattern (seed ^ pfn) into the first and last 8 bytes of each page of
 * [pfn, pfn + pages), all allocated by the caller, and reads it back: the number of pages
 * that did not keep it (memory that is not really there reads back differently).
 */
u64 kglue_st_fill_check(u64 pfn, u64 pages, u64 seed)
{
	u64 i, bad = 0;

	for (i = 0; i < pages; i++) {
		u64 *p = page_address(pfn_to_page(pfn + i));

		WRITE_ONCE(p[0], seed ^ (pfn + i));
		WRITE_ONCE(p[PAGE_SIZE / 8 - 1], ~seed ^ (pfn + i));
	}
	for (i = 0; i < pages; i++) {
		u64 *p = page_address(pfn_to_page(pfn + i));

		if (READ_ONCE(p[0]) != (seed ^ (pfn + i)) ||
		    READ_ONCE(p[PAGE_SIZE / 8 - 1]) != (~seed ^ (pfn + i)))
			bad++;
	}
	return bad;
}

u64 kglue_st_end_pfn(void)
{
	u64 end = 0;
	int nid;

	for_each_online_node(nid)
		end = max_t(u64, end, node_end_pfn(nid));
	return end * (PAGE_SIZE / 4096);
}

u64 kglue_hypercall(u64 control, u64 input_gpa, u64 output_gpa)
{
	return U64_MAX;	/* as hv_do_hypercall() without a hypercall page */
}

s32 kglue_drv_reporting_enable(u32 order)
{
	return -ENODEV;
}

void kglue_drv_reporting_disable(void)
{
}

static int panic_entry(void *arg)
{
	return hvdm_selftest_panic(arg);
}

static int test_entry(void *arg)
{
	return hvdm_selftest_run(arg);
}

static int __init hvdm_selftest_init(void)
{
	int count, i, ret, failed = 0, plan;

	count = hvdm_selftest_count();
	plan = count + (panic_test ? 1 : 0);
	pr_info("KTAP version 1\n");
	pr_info("1..%d\n", plan);
	for (i = 0; i < count; i++) {
		ret = kglue_guarded_call(test_entry, (void *)(unsigned long)i);
		if (ret == 0) {
			pr_info("ok %d %s\n", i + 1, hvdm_selftest_name(i));
		} else {
			failed++;
			pr_info("not ok %d %s # %d failed (%s)\n", i + 1, hvdm_selftest_name(i),
				ret, ret == -EFAULT ? "Rust panic" : "subtests");
		}
	}
	if (panic_test) {
		/* A deliberate Rust panic must come back here as -EFAULT with the driver disabled. */
		ret = kglue_guarded_call(panic_entry, NULL);
		if (ret == -EFAULT && kglue_is_dead() &&
		    kglue_guarded_call(test_entry, (void *)0UL) == -ENODEV) {
			pr_info("ok %d panic_guard\n", plan);
		} else {
			failed++;
			pr_info("not ok %d panic_guard # returned %d\n", plan, ret);
		}
	}
	pr_info("# hv_dynmem selftest: %d passed, %d failed\n", plan - failed, failed);
	return 0;
}

static void __exit hvdm_selftest_exit(void)
{
	kglue_st_reporting_unregister();
	kglue_ha_exit();
}

module_init(hvdm_selftest_init);
module_exit(hvdm_selftest_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("hv-dynmem in-kernel self-tests (KTAP)");
