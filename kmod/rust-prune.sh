#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# `ld -r --gc-sections` drops unreachable code but keeps the undefined symbols that code
# referenced; modpost would then demand them (e.g. self-test-only glue in the driver module).
# Remove every undefined symbol that no remaining relocation uses.
# Usage: rust-prune.sh OBJ NM READELF OBJCOPY
set -eu
obj=$1 nm=$2 readelf=$3 objcopy=$4
used=$($readelf -rW "$obj" | awk '/R_(X86_64|AARCH64)_/ && NF >= 5 {print $5}' | sort -u)
args=
for s in $($nm -u "$obj" | awk '{print $2}'); do
    printf '%s\n' "$used" | grep -qxF "$s" || args="$args --strip-symbol=$s"
done
[ -z "$args" ] || $objcopy $args "$obj"
