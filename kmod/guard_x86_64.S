/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The panic guard's two halves (see kglue.c), x86-64 (SysV ABI); included by guard.S.
 *
 * int kglue_guard_enter(kglue_fn fn, void *arg, unsigned long *sp_slot)
 *   Saves rbp, rbx, r12-r15, stores the stack pointer in *sp_slot, calls fn(arg) and returns
 *   its result.
 * void kglue_guard_escape(unsigned long sp)
 *   Abandons every frame below the one kglue_guard_enter saved: returns -EFAULT to
 *   kglue_guard_enter as if fn had returned it, and kglue_guard_enter returns that.
 */
#include <linux/linkage.h>
#include <asm/nospec-branch.h>
#include <asm/unwind_hints.h>

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
	/*
	 * The word below the saved stack pointer is the return address of kglue_guard_enter's
	 * call to fn: make it the top of the stack and return through it, as if fn had returned
	 * -EFAULT. kglue_guard_enter then restores its caller's callee-saved registers itself.
	 * From the next instruction on this is a function entry as far as unwinding goes.
	 */
	lea	-8(%rdi), %rsp
	UNWIND_HINT_FUNC
	mov	$-14, %eax		/* -EFAULT */
	RET
SYM_FUNC_END(kglue_guard_escape)
