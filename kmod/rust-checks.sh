#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Checks one linked Rust object before it goes into a module; on failure it is deleted and the
# build stops. Usage: rust-checks.sh OBJ FRAME_LIMIT READELF OBJDUMP EXPORT...
#  1. relocations: only the types the x86-64 module loader applies (a GOTPCREL would link and
#     then fail at insmod with "Unknown rela relocation");
#  2. no SIMD/FPU register use (kernel code must not touch FPU state);
#  3. no unwind tables, TLS or constructors (.eh_frame, .tbss, .tdata, .init_array, .ctors);
#  4. no stack frame larger than FRAME_LIMIT bytes (the kernel's CONFIG_FRAME_WARN);
#  5. no red-zone access (a store below %rsp) and no %fs/%gs segment use;
#  6. every entry point the C glue calls is defined and global.
set -eu
obj=$1 limit=$2 readelf=$3 objdump=$4
shift 4
fail() { echo "$obj: $*" >&2; rm -f "$obj"; exit 1; }

bad=$($readelf -rW "$obj" | awk '/R_X86_64_/{print $3}' | sort -u |
      grep -vxE 'R_X86_64_(NONE|64|32|32S|PC32|PLT32|PC64)' || true)
[ -z "$bad" ] || fail "relocation type(s) the x86-64 module loader rejects: $bad"

dis=$($objdump -d --no-show-raw-insn "$obj")
simd=$(printf '%s\n' "$dis" | grep -cE '%[xyz]mm[0-9]|%mm[0-7]|%st\(' || true)
[ "$simd" = 0 ] || fail "$simd instruction(s) use SIMD/FPU registers"

sec=$($readelf -SW "$obj" | grep -oE '\.(eh_frame|tbss|tdata|init_array|ctors|gcc_except_table)[^ ]*' | sort -u || true)
[ -z "$sec" ] || fail "unexpected section(s): $sec"

# Stack frames: `sub $N,%rsp` (and its `add $-N,%rsp` form) per function.
big=$(printf '%s\n' "$dis" | awk -v limit="$limit" '
    function hex(h,   i, n) {
        n = 0; h = tolower(h)
        for (i = 1; i <= length(h); i++) n = n * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
        return n
    }
    function neg(h,   i, n) {   # magnitude of a negative 64-bit hex immediate
        n = 0; h = tolower(h)
        for (i = 1; i <= length(h); i++) n = n * 16 + 15 - (index("0123456789abcdef", substr(h, i, 1)) - 1)
        return n + 1
    }
    /^[0-9a-f]+ <.*>:$/ { fn = $2 }
    /sub +\$0x[0-9a-f]+,%rsp/ {
        match($0, /\$0x[0-9a-f]+/); n = hex(substr($0, RSTART + 3, RLENGTH - 3));
        if (n > limit) printf "%s:%d ", fn, n
    }
    /add +\$0xffffffffffff[0-9a-f]+,%rsp/ {
        match($0, /\$0x[0-9a-f]+/); n = neg(substr($0, RSTART + 3, RLENGTH - 3));
        if (n > limit) printf "%s:%d ", fn, n
    }')
[ -z "$big" ] || fail "stack frame(s) larger than $limit bytes: $big"

redzone=$(printf '%s\n' "$dis" | grep -E 'mov[a-z]* +[^,]+,-0x[0-9a-f]+\(%rsp\)' | head -n 3 || true)
[ -z "$redzone" ] || fail "red-zone store(s) below %rsp: $redzone"
seg=$(printf '%s\n' "$dis" | grep -cE '%[fg]s:' || true)
[ "$seg" = 0 ] || fail "$seg instruction(s) use %fs/%gs"

syms=$($readelf -sW "$obj")
for e in "$@"; do
    printf '%s\n' "$syms" | awk -v s="$e" '$8 == s && $5 == "GLOBAL" && $7 != "UND" {f=1} END {exit !f}' ||
        fail "entry point $e is not defined as a global symbol"
done
