#!/bin/bash
# rootfs/images.sh [busybox] [debian] - put offline base images into hull's store with `hull import`:
#   busybox:latest   the tree of rootfs/busybox.sh (Debian's busybox-static), CMD ["sh"]; no network
#   debian:12        `debootstrap --variant=minbase bookworm` from Debian's packages (the mirror of
#                    $DEBIAN_MIRROR, else apt's own, else deb.debian.org), CMD ["bash"]; also tagged
#                    debian:bookworm. A few minutes and ~150 MB, so only when asked for.
# An image that is already there is left alone. HULL_ROOT sets hull's --root.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
hull=(hull --root="${HULL_ROOT:-/var/lib/hull}")
[ $# -gt 0 ] || set -- busybox
work=$(mktemp -d /tmp/hull-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

have() { [ -n "$("${hull[@]}" images -q "$1")" ]; }

for image in "$@"; do
    case $image in
    busybox)
        if have busybox:latest; then echo "busybox:latest is there"; continue; fi
        "$here/busybox.sh" "$work/busybox" >/dev/null
        tar -C "$work/busybox/rootfs" --numeric-owner -cf "$work/busybox.tar" .
        "${hull[@]}" import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest
        ;;
    debian)
        if have debian:12; then echo "debian:12 is there"; continue; fi
        command -v debootstrap >/dev/null || { echo "rootfs/images.sh: debootstrap missing: scripts/setup installs it" >&2; exit 1; }
        mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
        mirror=${mirror:-http://deb.debian.org/debian}
        debootstrap --variant=minbase bookworm "$work/debian" "$mirror" >"$work/debootstrap.log" 2>&1 ||
            { tail -20 "$work/debootstrap.log" >&2; echo "rootfs/images.sh: debootstrap from $mirror failed" >&2; exit 1; }
        # what a container image leaves out: package lists and caches, logs
        rm -rf "$work/debian"/var/cache/apt/*.bin "$work/debian"/var/lib/apt/lists/* "$work/debian"/var/log/*.log
        tar -C "$work/debian" --numeric-owner --xattrs -cf "$work/debian.tar" .
        "${hull[@]}" import -c 'CMD ["bash"]' "$work/debian.tar" debian:12
        "${hull[@]}" tag debian:12 debian:bookworm
        ;;
    *)
        echo "rootfs/images.sh: unknown image $image (busybox, debian)" >&2
        exit 2
        ;;
    esac
done
