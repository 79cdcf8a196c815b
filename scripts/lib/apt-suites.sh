# SPDX-License-Identifier: MIT OR Apache-2.0
# Sourced by scripts/kmod-kernel and scripts/kmod-qemu (needs $cache and log()): the Debian
# suites other than bookworm as one extra apt source, pinned to priority 1 so that nothing
# installed on the host is ever upgraded from them; packages from them are only downloaded
# and unpacked (dpkg -x) into $cache, never installed.
sources=/etc/apt/sources.list.d/hv-dynmem-kernels.sources
prefs=/etc/apt/preferences.d/hv-dynmem-kernels
apt_arch=(-o APT::Architectures::=amd64 -o APT::Architectures::=arm64)
add_suites() {
    if [ ! -e "$sources" ] || [ ! -e "$prefs" ]; then
        log "adding $sources (bookworm-backports, trixie, trixie-backports, sid; pinned to 1)"
        cat >"$sources" <<'S'
# Added by hv-dynmem scripts/kmod-kernel: other Debian kernels for the module matrix.
# Pinned low in /etc/apt/preferences.d/hv-dynmem-kernels: nothing installed upgrades from these.
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports trixie trixie-backports sid
Components: main
Architectures: amd64 arm64
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
S
        {
            echo "# hv-dynmem scripts/kmod-kernel: only explicitly requested versions come from these suites."
            for s in bookworm-backports trixie trixie-backports sid; do
                printf 'Package: *\nPin: release n=%s\nPin-Priority: 1\n\n' "$s"
            done
        } >"$prefs"
        rm -f "$cache/.apt-updated"
    fi
    # One apt-get update per day is plenty for the matrix.
    if [ -z "$(find "$cache/.apt-updated" -mmin -1440 2>/dev/null)" ]; then
        mkdir -p "$cache"
        nice -n 10 apt-get update -qq "${apt_arch[@]}" >&2
        touch "$cache/.apt-updated"
    fi
}

