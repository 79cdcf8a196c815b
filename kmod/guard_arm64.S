/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The panic guard's two halves (see kglue.c), arm64 (AAPCS64); included by guard.S.
 *
 * int kglue_guard_enter(kglue_fn fn, void *arg, unsigned long *sp_slot)
 *   Pushes a frame record (x29, x30) and the callee-saved x19-x28, stores the stack pointer
 *   in *sp_slot, calls fn(arg) and returns its result.
 * void kglue_guard_escape(unsigned long sp)
 *   Abandons every frame below the one kglue_guard_enter saved: resets the stack pointer to
 *   it and continues after kglue_guard_enter's call of fn with -EFAULT as fn's result, so
 *   kglue_guard_enter restores its caller's registers itself and returns -EFAULT.
 *
 * x18 is not touched (the shadow call stack register when CONFIG_SHADOW_CALL_STACK; it is
 * the same task's, and no frame of it is abandoned before the escape returns). Return
 * addresses are not signed here: the code is assembly and its frame record holds the
 * caller's x30 unchanged; fn's own pac-ret pairs are all inside the frames the escape drops.
 */
#include <linux/linkage.h>

	.text
SYM_FUNC_START(kglue_guard_enter)
	stp	x29, x30, [sp, #-96]!
	mov	x29, sp
	stp	x19, x20, [sp, #16]
	stp	x21, x22, [sp, #32]
	stp	x23, x24, [sp, #48]
	stp	x25, x26, [sp, #64]
	stp	x27, x28, [sp, #80]
	mov	x9, sp
	str	x9, [x2]
	mov	x9, x0
	mov	x0, x1
	blr	x9
.Lkglue_guard_resume:
	ldp	x19, x20, [sp, #16]
	ldp	x21, x22, [sp, #32]
	ldp	x23, x24, [sp, #48]
	ldp	x25, x26, [sp, #64]
	ldp	x27, x28, [sp, #80]
	ldp	x29, x30, [sp], #96
	ret
SYM_FUNC_END(kglue_guard_enter)

SYM_FUNC_START(kglue_guard_escape)
	/*
	 * x0 is the stack pointer kglue_guard_enter stored: its frame (and the callee-saved
	 * registers of its caller) are intact below it. Resume there as if fn had returned.
	 */
	mov	sp, x0
	mov	w0, #-14		/* -EFAULT */
	b	.Lkglue_guard_resume
SYM_FUNC_END(kglue_guard_escape)
