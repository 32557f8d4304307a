#!/bin/bash
# rootfs/busybox.sh DIR [CMD...] - build an OCI bundle offline: DIR/rootfs from Debian's
# busybox-static (one static binary plus a symlink per applet, /etc/passwd, group, hosts) and
# DIR/config.json from `hull-oci spec`, with CMD as process.args and no terminal if CMD is given.
set -euo pipefail
dir=${1:?usage: rootfs/busybox.sh DIR [CMD...]}
shift
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --list-full >/dev/null 2>&1 ||
    { echo "rootfs/busybox.sh: $busybox missing: apt-get install busybox-static (scripts/setup does)" >&2; exit 1; }
root=$dir/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home/user,var/tmp}
chmod 1777 "$root/tmp" "$root/var/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$root/etc/group" <<'G'
root:x:0:
tty:x:5:
users:x:100:
user:x:1000:
nogroup:x:65534:
G
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
chown 1000:1000 "$root/home/user"
if [ ! -e "$dir/config.json" ]; then
    hull-oci spec --bundle "$dir"
fi
if [ $# -gt 0 ]; then
    python3 - "$dir/config.json" "$@" <<'PY'
import json, sys
path, args = sys.argv[1], sys.argv[2:]
cfg = json.load(open(path))
cfg["process"]["args"] = args
cfg["process"]["terminal"] = False
json.dump(cfg, open(path, "w"), indent=2)
PY
fi
