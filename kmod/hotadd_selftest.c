// SPDX-License-Identifier: GPL-2.0
/* The selftest module's own copy of the hot-add glue. */
#include "hotadd.c"
