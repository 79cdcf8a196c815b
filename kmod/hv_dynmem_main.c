// SPDX-License-Identifier: GPL-2.0
/* hv_dynmem.ko: placeholder while the driver glue is written. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#include <linux/module.h>
#include "hv_dynmem_glue.h"
static int __init hvdm_init(void) { return hvdm_selftest_count() >= 0 ? 0 : -EINVAL; }
static void __exit hvdm_exit(void) { }
module_init(hvdm_init);
module_exit(hvdm_exit);
MODULE_LICENSE("GPL");
