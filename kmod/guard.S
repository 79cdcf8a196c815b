/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The panic guard's two halves (see kglue.c). x86-64 SysV ABI.
 *
 * int kglue_guard_enter(kglue_fn fn, void *arg, unsigned long *sp_slot)
 *   Saves rbp, rbx, r12-r15, stores the stack pointer in *sp_slot, calls fn(arg) and returns
 *   its result.
 * void kglue_guard_escape(unsigned long sp)
 *   Switches to the stack pointer saved by kglue_guard_enter, restores the registers saved
 *   there and returns -EFAULT from that kglue_guard_enter call.
 */
#include <linux/linkage.h>
#include <asm/nospec-branch.h>

	.text
SYM_FUNC_START(kglue_guard_enter)
	push	%rbp
	mov	%rsp, %rbp
	push	%rbx
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	sub	$8, %rsp
	mov	%rsp, (%rdx)
	mov	%rdi, %rax
	mov	%rsi, %rdi
	CALL_NOSPEC rax
	add	$8, %rsp
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbx
	pop	%rbp
	RET
SYM_FUNC_END(kglue_guard_enter)

SYM_FUNC_START(kglue_guard_escape)
	mov	%rdi, %rsp
	mov	$-14, %eax		/* -EFAULT */
	add	$8, %rsp
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbx
	pop	%rbp
	RET
SYM_FUNC_END(kglue_guard_escape)
