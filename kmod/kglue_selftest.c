// SPDX-License-Identifier: GPL-2.0
/* The selftest module's own copy of the runtime glue. */
#include "kglue.c"
