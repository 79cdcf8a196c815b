// SPDX-License-Identifier: GPL-2.0
/* hv_dynmem.ko: placeholder while the driver glue is written. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#include <linux/module.h>
#include <linux/hyperv.h>
#include <asm/mshyperv.h>
#include "hv_dynmem_glue.h"
u64 kglue_hypercall(u64 control, u64 input_gpa, u64 output_gpa)
{
	return hv_do_hypercall(control, input_gpa ? phys_to_virt(input_gpa) : NULL,
			       output_gpa ? phys_to_virt(output_gpa) : NULL);
}
static int __init hvdm_init(void) { return 0; }
static void __exit hvdm_exit(void) { }
module_init(hvdm_init);
module_exit(hvdm_exit);
MODULE_LICENSE("GPL");
