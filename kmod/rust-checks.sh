#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Checks one linked Rust object before it goes into a module; on failure it is deleted and the
# build stops. Usage: rust-checks.sh OBJ SRCARCH FRAME_LIMIT BRANCH_PROT READELF OBJDUMP EXPORT...
# (SRCARCH: x86 or arm64; BRANCH_PROT: y when arm64 Rust is built with pointer authentication,
# or x86-64 Rust with indirect branch tracking.)
#  1. relocations: only the types the architecture's module loader applies (a GOTPCREL on
#     x86-64 would link and then fail at insmod with "Unknown rela relocation"; arm64's
#     loader knows no GOT relocation either);
#  2. no SIMD/FPU register use (kernel code must not touch FPU state);
#  3. no unwind tables, TLS or constructors (.eh_frame, .tbss, .tdata, .init_array, .ctors);
#  4. no stack frame larger than FRAME_LIMIT bytes (the kernel's CONFIG_FRAME_WARN);
#  5. no store below the stack pointer (x86-64: the red zone), no %fs/%gs segment use
#     (x86-64), return addresses signed where the kernel signs them (arm64 pac-ret), every
#     entry point starting with ENDBR64 where the kernel tracks indirect branches (x86 IBT);
#  6. every entry point the C glue calls is defined and global.
set -eu
obj=$1 arch=$2 limit=$3 bprot=$4 readelf=$5 objdump=$6
shift 6
fail() { echo "$obj: $*" >&2; rm -f "$obj"; exit 1; }

relocs=$($readelf -rW "$obj" | awk '/R_(X86_64|AARCH64)_/{print $3}' | sort -u)
case $arch in
x86)
    ok='R_X86_64_(NONE|64|32|32S|PC32|PLT32|PC64)'
    ;;
arm64)
    # arch/arm64/kernel/module.c, apply_relocate_add(): data (ABS/PREL 16-64), MOVW groups,
    # ADR/ADRP + LO12 pairs (the small code model), branches (CALL26/JUMP26 get PLTs).
    ok='R_AARCH64_(NONE|NULL|ABS(16|32|64)|PREL(16|32|64)'
    ok="$ok|MOVW_UABS_G(0|0_NC|1|1_NC|2|2_NC|3)|MOVW_SABS_G[012]|MOVW_PREL_G(0|0_NC|1|1_NC|2|2_NC|3)"
    ok="$ok|LD_PREL_LO19|ADR_PREL_LO21|ADR_PREL_PG_HI21|ADR_PREL_PG_HI21_NC|ADD_ABS_LO12_NC"
    ok="$ok|LDST(8|16|32|64|128)_ABS_LO12_NC|TSTBR14|CONDBR19|JUMP26|CALL26)"
    ;;
*)
    fail "unknown architecture '$arch' (x86 or arm64)"
    ;;
esac
bad=$(printf '%s\n' "$relocs" | grep -v '^$' | grep -vxE "$ok" || true)
[ -z "$bad" ] || fail "relocation type(s) the $arch module loader rejects: $bad"
[ -n "$relocs" ] || fail "no relocations at all: not a linked kernel object for $arch?"

dis=$($objdump -d --no-show-raw-insn "$obj")
# The instructions alone: no symbol names (<...>) or comments, which could look like registers.
# One line per instruction: "mnemonic operands".
insns=$(printf '%s\n' "$dis" | awk -F'\t' '/^ *[0-9a-f]+:\t/ {
    line = $2 " " $3; gsub(/[0-9a-f]+ <[^>]*>/, "", line); print line }')
if [ "$arch" = x86 ]; then
    simd=$(printf '%s\n' "$insns" | grep -cE '%[xyz]mm[0-9]|%mm[0-7]|%st\(' || true)
else
    # Any FP/SIMD/SVE register (b/h/s/d/q/v/z/p n) or the FP control registers.
    simd=$(printf '%s\n' "$insns" |
        grep -cE '(^|[ ,{[])([bhsdqvz]([0-9]|[12][0-9]|3[01])|p([0-9]|1[0-5]))([.,} ]|\]|$)|fpcr|fpsr|smstart' || true)
fi
[ "$simd" = 0 ] || fail "$simd instruction(s) use SIMD/FPU registers"

sec=$($readelf -SW "$obj" | grep -oE '\.(eh_frame|tbss|tdata|init_array|ctors|gcc_except_table)[^ ]*' | sort -u || true)
[ -z "$sec" ] || fail "unexpected section(s): $sec"

if [ "$arch" = x86 ]; then
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

# IBT as the kernel (CONFIG_X86_KERNEL_IBT): an indirect call or jump to a function that does
# not start with ENDBR64 is a control-protection fault on a CPU with IBT (TCG does not emulate
# it, so only this check can tell). The flag must have taken effect on every entry point.
if [ "$bprot" = y ]; then
    noendbr=$(printf '%s\n' "$dis" | awk -F'\t' -v list=" $* " '
        /^[0-9a-f]+ <.*>:$/ { fn = $0; sub(/^[0-9a-f]+ </, "", fn); sub(/>:$/, "", fn); first = 1; next }
        first && /^ *[0-9a-f]+:\t/ {
            first = 0
            if (index(list, " " fn " ") && $2 !~ /^endbr64/) printf "%s ", fn
        }')
    [ -z "$noendbr" ] || fail "built for IBT but entry point(s) do not start with ENDBR64: $noendbr"
fi
else
# Stack frames, per function: the sum of every `sub sp, sp, #N[, lsl #12]` and of every
# pre-indexed push `[sp, #-N]!` (frame record, callee-saved pairs); a probe loop's
# `sub xN, sp, #N, lsl #12` names its whole size. A variable-sized frame (`sub sp, sp, xN`)
# fails as such.
big=$(printf '%s\n' "$dis" | awk -v limit="$limit" '
    function num(s) { return (s ~ /^0x/) ? strtonum_hex(substr(s, 3)) : s + 0 }
    function strtonum_hex(h,   i, n) {
        n = 0; h = tolower(h)
        for (i = 1; i <= length(h); i++) n = n * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
        return n
    }
    function flush() { if (fn != "" && size > limit) printf "%s:%d ", fn, size }
    /^[0-9a-f]+ <.*>:$/ { flush(); fn = $2; size = 0; next }
    /\tsub\tsp, sp, x[0-9]+/ { printf "%s:variable ", fn; next }
    /\tsub\t(sp|x[0-9]+), sp, #/ {
        if ($0 ~ /\tsub\tx[0-9]+, sp, #/ && $0 !~ /lsl #12/) next
        match($0, /#(0x[0-9a-f]+|[0-9]+)/); n = num(substr($0, RSTART + 1, RLENGTH - 1))
        if ($0 ~ /lsl #12/) n = n * 4096
        size += n; next
    }
    /\[sp, #-(0x[0-9a-f]+|[0-9]+)\]!/ {
        match($0, /\[sp, #-(0x[0-9a-f]+|[0-9]+)\]!/); n = num(substr($0, RSTART + 7, RLENGTH - 9))
        size += n
    }
    END { flush() }')
[ -z "$big" ] || fail "stack frame(s) larger than $limit bytes: $big"

# A store below sp without moving sp (no writeback `!`): data an interrupt would overwrite.
below=$(printf '%s\n' "$insns" | grep -E '^st[a-z0-9]* .*\[sp, #-[^]]*\]( |$)' | head -n 3 || true)
[ -z "$below" ] || fail "store(s) below sp: $below"

# pac-ret as the kernel (CONFIG_ARM64_PTR_AUTH_KERNEL): the flag must have taken effect.
if [ "$bprot" = y ]; then
    pac=$(printf '%s\n' "$insns" | grep -cE '^(paciasp|hint #0x19|hint #25)( |$)' || true)
    [ "$pac" -gt 0 ] || fail "built for pac-ret but no function signs its return address (paciasp)"
fi
fi

syms=$($readelf -sW "$obj")
for e in "$@"; do
    printf '%s\n' "$syms" | awk -v s="$e" '$8 == s && $5 == "GLOBAL" && $7 != "UND" {f=1} END {exit !f}' ||
        fail "entry point $e is not defined as a global symbol"
done
