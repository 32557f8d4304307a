#!/usr/bin/env python3
"""rootfs/docker-archive.py ROOTFS OUT.tar NAME:TAG [CMD...] - pack a root filesystem directory as a
one-layer image in docker-archive format (what `docker save` writes and `docker load`,
`podman load` and `ctr images import` read), so engines get an image without a registry.

The archive: manifest.json (config file, repo tags, layer paths), the image config JSON named by
its sha256, and the layer as an uncompressed tar whose sha256 is the config's rootfs.diff_ids[0].
"""
import hashlib
import io
import json
import os
import sys
import tarfile
import time

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def layer_tar(rootfs: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(rootfs)):
            tar.add(os.path.join(rootfs, name), arcname=name)
    return buf.getvalue()


def write_archive(rootfs: str, out: str, tag: str, cmd: list) -> None:
    layer = layer_tar(rootfs)
    diff_id = hashlib.sha256(layer).hexdigest()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Env": [PATH], "Cmd": cmd},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
        "history": [{"created": created, "created_by": "rootfs/docker-archive.py"}],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag],
                            "Layers": [diff_id + "/layer.tar"]}]).encode()
    with tarfile.open(out, "w") as tar:
        for name, data in ((config_name, config), (diff_id + "/layer.tar", layer),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def main(argv) -> int:
    if len(argv) < 3 or not os.path.isdir(argv[0]) or ":" not in argv[2]:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    write_archive(argv[0], argv[1], argv[2], argv[3:] or ["sh"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
