/* SPDX-License-Identifier: GPL-2.0 */
/* C-only declarations shared by the glue files (not part of the Rust ABI). */
#ifndef HV_DYNMEM_KGLUE_INTERNAL_H
#define HV_DYNMEM_KGLUE_INTERNAL_H

#include <linux/types.h>
#include "hv_dynmem_glue.h"
#include "hvdm_compat.h"

/* guard.S: saves callee-saved registers and the stack pointer into *sp_slot, calls fn(arg). */
int kglue_guard_enter(kglue_fn fn, void *arg, unsigned long *sp_slot);
/*
 * guard.S: resumes the kglue_guard_enter() frame whose stack pointer is sp, making it return
 * -EFAULT. Never returns; declared as returning so objtool sees an ordinary call.
 */
void kglue_guard_escape(unsigned long sp);

/* True once a Rust panic has disabled the driver. */
bool kglue_is_dead(void);

/* Each module: run a driver step soon (hotadd.c calls it after a MEM_OFFLINE event). */
void kglue_drv_kick(void);

#endif
