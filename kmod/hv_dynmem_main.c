// SPDX-License-Identifier: GPL-2.0
/*
 * hv_dynmem.ko: the Hyper-V Dynamic Memory VMBus driver, with its protocol logic in Rust.
 *
 * This file is the kernel side only: VMBus driver registration, the channel, the one work
 * item that runs every Rust driver step, page-reporting registration, memory hot-add and the
 * online callback, debugfs and the module parameters. All decisions are made by the driver
 * core (hv-dynmem, Rust) through the hvdm_* entry points, each run inside
 * kglue_guarded_call() so a Rust panic disables the driver with a WARN.
 *
 * Context rules: the VMBus channel callback runs in softirq context and only queues the work
 * item; Rust runs in the work item (process context), so it may allocate with GFP_KERNEL.
 *
 * Hibernation: probe applies Linux's rule (kglue_probe_hibernation); .suspend stops the work
 * item and page reporting and closes the channel, .resume reopens it and the core negotiates
 * again.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/hyperv.h>
#include <linux/workqueue.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/memory.h>
#include <linux/memory_hotplug.h>
#include <linux/page_reporting.h>
#include <linux/scatterlist.h>
#include <linux/spinlock.h>
#include <asm/mshyperv.h>

#include "hv_dynmem_glue.h"
#include "kglue_internal.h"

/* Parameters: hv_balloon's two, plus ours. */
static bool hot_add = true;
module_param(hot_add, bool, 0644);
MODULE_PARM_DESC(hot_add, "If set attempt memory hot_add");

static uint pressure_report_delay = 45;
module_param(pressure_report_delay, uint, 0644);
MODULE_PARM_DESC(pressure_report_delay, "Delay in secs in reporting pressure");

static uint reporting = 1;
module_param(reporting, uint, 0444);
MODULE_PARM_DESC(reporting,
	"Free page reporting policy: 0 = off, 1 = Hyper-V cold-discard hints for the kernel's page-reporting batches (default)");

static uint reporting_order;
module_param(reporting_order, uint, 0444);
MODULE_PARM_DESC(reporting_order,
	"Lowest order reported (0 = the kernel's page_reporting_order, else pageblock_order)");

/* Ring size of each direction: 16 KiB of data plus the control page. */
#define HVDM_RING_SIZE VMBUS_RING_SIZE(16 * 1024)

struct hvdm_dev {
	struct hv_device *hdev;
	struct delayed_work work;
	bool stopping;
	struct page_reporting_dev_info prdev;
	bool reporting_on;
	bool hot_add;		/* our online callback and memory notifier are installed */
	bool open;		/* the channel is open (false after a failed resume) */
	struct dentry *debugfs;
	u8 scratch[HV_HYP_PAGE_SIZE];	/* kglue_vmbus_discard's landing page */
};

/* One DM device per partition. */
static struct hvdm_dev *hvdm;

/* ---- the channel ---- */

s32 kglue_vmbus_send(const u8 *buf, u32 len, u64 trans_id)
{
	int ret;

	if (!hvdm)
		return -ENODEV;
	ret = vmbus_sendpacket(hvdm->hdev->channel, (void *)buf, len, trans_id,
			       VM_PKT_DATA_INBAND, 0);
	return ret;
}

s32 kglue_vmbus_recv(u8 *buf, u32 cap, u32 *len, u64 *trans_id)
{
	if (!hvdm)
		return -ENODEV;
	return vmbus_recvpacket(hvdm->hdev->channel, buf, cap, len, trans_id);
}

/*
 * The kernel hands out at most the channel's packet buffer (one page by default), so reading
 * the packet into a scratch page and forgetting it drops it whatever its size.
 */
s32 kglue_vmbus_discard(u32 *len)
{
	u64 trans_id;
	s32 ret;

	*len = 0;
	if (!hvdm)
		return -ENODEV;
	ret = vmbus_recvpacket(hvdm->hdev->channel, hvdm->scratch, sizeof(hvdm->scratch), len,
			       &trans_id);
	return ret == -ENOBUFS ? -EMSGSIZE : ret;
}

static void hvdm_channel_callback(void *context)
{
	struct hvdm_dev *dev = context;

	/* Softirq context: no Rust, no allocation; run a step now. */
	if (!READ_ONCE(dev->stopping))
		mod_delayed_work(system_freezable_wq, &dev->work, 0);
}

static void hvdm_work(struct work_struct *w)
{
	struct hvdm_dev *dev = container_of(to_delayed_work(w), struct hvdm_dev, work);
	int ms = -1;

	if (READ_ONCE(dev->stopping))
		return;
	if (!kglue_is_dead())
		ms = kglue_guarded_call(hvdm_drv_step, NULL);
	if (kglue_is_dead()) {
		/* A Rust panic (here or in the report callback) disabled the driver: stop the
		 * page-reporting core from calling into it, and stop stepping. */
		kglue_drv_reporting_disable();
		return;
	}
	if (ms < 0)
		return;	/* the driver core has stopped */
	/* Does not shorten a step the channel callback already asked for. */
	queue_delayed_work(system_freezable_wq, &dev->work, msecs_to_jiffies(ms));
}

/* ---- hypercalls ---- */

u64 kglue_hypercall(u64 control, u64 input_gpa, u64 output_gpa)
{
	return hv_do_hypercall(control, input_gpa ? phys_to_virt(input_gpa) : NULL,
			       output_gpa ? phys_to_virt(output_gpa) : NULL);
}

/* ---- page reporting ---- */

static int hvdm_report(struct page_reporting_dev_info *pr, struct scatterlist *sgl,
		       unsigned int nents)
{
	struct kglue_block blocks[PAGE_REPORTING_CAPACITY];
	struct kglue_batch batch = { .blocks = blocks, .count = nents };
	struct scatterlist *sg;
	unsigned int i;

	if (WARN_ON_ONCE(nents > PAGE_REPORTING_CAPACITY))
		return -EINVAL;
	for_each_sg(sgl, sg, nents, i) {
		unsigned int order = get_order(sg->length);

		blocks[i].pfn = page_to_pfn(sg_page(sg));
		blocks[i].order = (PAGE_SIZE << order) == sg->length ? order : U32_MAX;
		blocks[i].reserved = 0;
	}
	return kglue_guarded_call(hvdm_drv_report, &batch) ? -EINVAL : 0;
}

s32 kglue_drv_reporting_enable(u32 order)
{
	int ret;

	if (!hvdm || hvdm->reporting_on)
		return -EBUSY;
	memset(&hvdm->prdev, 0, sizeof(hvdm->prdev));
	hvdm->prdev.report = hvdm_report;
	hvdm->prdev.order = order;
	ret = page_reporting_register(&hvdm->prdev);
	if (ret < 0) {
		pr_err("Failed to enable cold memory discard: %d\n", ret);
		return ret;
	}
	hvdm->reporting_on = true;
	pr_info("Cold memory discard hint enabled with order %u\n", order);
	return 0;
}

void kglue_drv_reporting_disable(void)
{
	if (hvdm && hvdm->reporting_on) {
		page_reporting_unregister(&hvdm->prdev);
		hvdm->reporting_on = false;
	}
}

/* ---- memory hot-add: kmod/hotadd.c ---- */

void kglue_drv_kick(void)
{
	struct hvdm_dev *dev = READ_ONCE(hvdm);

	if (dev && !READ_ONCE(dev->stopping))
		mod_delayed_work(system_freezable_wq, &dev->work, 0);
}

/* ---- debugfs: hv_balloon's lines plus ours ---- */

static int hvdm_debugfs_show(struct seq_file *f, void *offset)
{
	struct kglue_buf buf = { .cap = 4096, .len = 0 };
	int ret;

	buf.data = kmalloc(buf.cap, GFP_KERNEL);
	if (!buf.data)
		return -ENOMEM;
	ret = kglue_guarded_call(hvdm_drv_debugfs, &buf);
	if (!ret)
		seq_write(f, buf.data, min(buf.len, buf.cap));
	kfree(buf.data);
	return ret;
}
DEFINE_SHOW_ATTRIBUTE(hvdm_debugfs);

/* ---- the VMBus driver ---- */

/* Opens the DM channel (probe and resume). */
static int hvdm_open(struct hvdm_dev *dev)
{
	struct hv_device *hdev = dev->hdev;
	int ret;

	hdev->channel->max_pkt_size = HV_HYP_PAGE_SIZE * 2;
	/*
	 * The callback only queues the work item, which reads the ring later. In the default
	 * batched mode VMBus would call the callback again and again while the ring is not
	 * empty; in direct mode it calls it once per host signal, and the host signals whenever
	 * the ring goes from empty to non-empty (the work item always drains it).
	 */
	set_channel_read_mode(hdev->channel, HV_CALL_DIRECT);
	ret = vmbus_open(hdev->channel, HVDM_RING_SIZE, HVDM_RING_SIZE, NULL, 0,
			 hvdm_channel_callback, dev);
	dev->open = !ret;
	return ret;
}

/* Stops everything that reaches the host: the work item, page reporting, the channel. */
static void hvdm_quiesce(struct hvdm_dev *dev)
{
	WRITE_ONCE(dev->stopping, true);
	cancel_delayed_work_sync(&dev->work);
	kglue_drv_reporting_disable();
	if (dev->open) {
		vmbus_close(dev->hdev->channel);
		dev->open = false;
	}
	/* The channel callback may have queued the work once more before the close. */
	cancel_delayed_work_sync(&dev->work);
}

static int hvdm_probe(struct hv_device *hdev, const struct hv_vmbus_device_id *dev_id)
{
	struct kglue_drv_params params = {
		.pressure_report_delay = pressure_report_delay,
		.hot_add = hot_add,
		.reporting = reporting,
		.reporting_order = reporting_order,
		.memory_block_pages = kglue_memory_block_pages(),
	};
	struct hvdm_dev *dev;
	int ret;

	if (hvdm)
		return -EBUSY;
	kglue_probe_arch(&params);
	if (!params.hot_add_cap && hot_add) {
		/* arm64, as hv_balloon: hot-add is neither advertised nor done. */
		hot_add = false;
		pr_info("hot-add is not supported on this architecture: not advertised, requests refused\n");
	}
	kglue_probe_hibernation(&params);
	if (params.hibernation && hot_add) {
		/* As hv_balloon, which clears its hot_add parameter in this case. */
		hot_add = false;
		pr_info("hibernation is supported: hot-add off, balloon requests ignored\n");
	}
	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	dev->hdev = hdev;
	INIT_DELAYED_WORK(&dev->work, hvdm_work);
	hv_set_drvdata(hdev, dev);
	hvdm = dev;

	if (params.hot_add) {
		ret = kglue_ha_init();
		if (ret) {
			pr_warn("online page callback or memory notifier unavailable (%d): hot-add disabled\n",
				ret);
			params.hot_add = 0;
		}
	}
	dev->hot_add = params.hot_add;

	ret = hvdm_open(dev);
	if (ret)
		goto err_free;

	ret = kglue_guarded_call(hvdm_drv_start, &params);
	if (ret)
		goto err_close;
	dev->debugfs = debugfs_create_file("hv-dynmem", 0444, NULL, dev, &hvdm_debugfs_fops);
	queue_delayed_work(system_freezable_wq, &dev->work, 0);
	pr_info("Hyper-V Dynamic Memory driver (Rust core) probed\n");
	return 0;

err_close:
	vmbus_close(hdev->channel);
err_free:
	if (dev->hot_add)
		kglue_ha_exit();
	hvdm = NULL;
	kfree(dev);
	return ret;
}

static HVDM_REMOVE_RET hvdm_remove(struct hv_device *hdev)
{
	struct hvdm_dev *dev = hv_get_drvdata(hdev);

	WRITE_ONCE(dev->stopping, true);
	debugfs_remove(dev->debugfs);
	hvdm_quiesce(dev);
	kglue_guarded_call(hvdm_drv_stop, NULL);
	if (dev->hot_add)
		kglue_ha_exit();
	hvdm = NULL;
	kfree(dev);
	HVDM_REMOVE_RETURN(0);
}

/*
 * Hibernation. The VMBus core refuses to suspend a bound driver without .suspend. As
 * hv_balloon: stop the work and close the channel; the online callback and the memory
 * notifier stay installed. Unlike hv_balloon, page reporting is unregistered too (no hint
 * hypercalls while the image is written); it is registered again once the core reconnects.
 */
static int hvdm_suspend(struct hv_device *hdev)
{
	struct hvdm_dev *dev = hv_get_drvdata(hdev);

	hvdm_quiesce(dev);
	if (!kglue_is_dead())
		kglue_guarded_call(hvdm_drv_suspend, NULL);
	return 0;
}

static int hvdm_resume(struct hv_device *hdev)
{
	struct hvdm_dev *dev = hv_get_drvdata(hdev);
	int ret;

	ret = hvdm_open(dev);
	if (ret) {
		pr_err("resume: cannot reopen the channel (%d); the driver stays stopped\n", ret);
		return ret;
	}
	if (!kglue_is_dead()) {
		ret = kglue_guarded_call(hvdm_drv_resume, NULL);
		if (ret) {
			hvdm_quiesce(dev);
			return ret;
		}
	}
	WRITE_ONCE(dev->stopping, false);
	queue_delayed_work(system_freezable_wq, &dev->work, 0);
	return 0;
}

static const struct hv_vmbus_device_id hvdm_id_table[] = {
	/* Dynamic Memory class */
	{ HV_DM_GUID, },
	{ },
};
MODULE_DEVICE_TABLE(vmbus, hvdm_id_table);

static struct hv_driver hvdm_drv = {
	.name = "hv_dynmem",
	.id_table = hvdm_id_table,
	.probe = hvdm_probe,
	.remove = hvdm_remove,
	.suspend = hvdm_suspend,
	.resume = hvdm_resume,
	.driver = {
		.probe_type = PROBE_PREFER_ASYNCHRONOUS,
	},
};

static int __init hvdm_init(void)
{
	return vmbus_driver_register(&hvdm_drv);
}

static void __exit hvdm_exit(void)
{
	vmbus_driver_unregister(&hvdm_drv);
}

module_init(hvdm_init);
module_exit(hvdm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Hyper-V Dynamic Memory driver (hv-dynmem, Rust core)");
