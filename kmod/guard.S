/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The panic guard (kglue_guard_enter / kglue_guard_escape, see kglue.c and
 * kglue_internal.h): one implementation per architecture.
 */
#if defined(CONFIG_X86_64)
#include "guard_x86_64.S"
#elif defined(CONFIG_ARM64)
#include "guard_arm64.S"
#else
#error "hv_dynmem: the panic guard exists for x86-64 and arm64 only"
#endif
