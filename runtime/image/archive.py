"""Images in and out of the store as files: `hull import` of a root filesystem tar, and docker-archive
(`docker save`'s format: manifest.json, the config JSON, one tar per layer) for `hull load`/`save`.

Everything is checked before a name points at it: layers are unpacked (which validates them and
yields their diff IDs) before the image is tagged, so a bad archive leaves no image listed, only
blobs that `hull image prune` removes.
"""
import io
import os
import shutil
import tarfile
import tempfile
import time

from runtime import fastjson as json
from runtime.errors import HullError
from runtime.image import layer
from runtime.image.reference import Reference, parse
from runtime.image.store import MEDIA_CONFIG, MEDIA_LAYER, MEDIA_MANIFEST, ImageError, Store

DEFAULT_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _layer_media_type(path: str) -> str:
    kind = layer.compression(path)
    return MEDIA_LAYER + (f"+{kind}" if kind else "")


def store_image(store: Store, config: dict, layers: list) -> dict:
    """Store config and manifest for layers [(blob digest, size, media type)], unnamed; returns the
    manifest descriptor."""
    config_digest, config_size = store.put_bytes(json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config_size},
                "layers": [{"mediaType": m, "digest": d, "size": s} for d, s, m in layers]}
    digest, size = store.put_bytes(json.dumps(manifest).encode())
    return {"mediaType": MEDIA_MANIFEST, "digest": digest, "size": size}


def commit_image(store: Store, ref: Reference | None, config: dict, layers: list) -> dict:
    """store_image(), then tag ref (or keep the image untagged). Returns the manifest descriptor."""
    desc = store_image(store, config, layers)
    if ref is None:
        store.layer_dirs(desc)  # unpacked (and checked) before it is listed, as a named one
        store.keep_untagged(desc)
    else:
        store.tag_verified(ref, desc)
    return desc


def import_rootfs(store: Store, tar_path: str, name: str, cmd: list | None = None) -> dict:
    """`hull import`: one layer from a root filesystem tar (plain, gzip or zstd)."""
    ref = parse(name)
    with open(tar_path, "rb") as f:
        diff_id, work = store.unpack(f)  # validates the tar before anything is stored
    store.install(work, diff_id)  # a first layer's chain ID is its diff ID: tag_verified finds it unpacked
    digest, size = store.put_file(tar_path)
    config = {"architecture": "amd64", "os": "linux", "created": _now(),
              "config": {"Env": DEFAULT_ENV, **({"Cmd": cmd} if cmd else {})},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]},
              "history": [{"created": _now(), "created_by": f"hull import {os.path.basename(tar_path)}"}]}
    return commit_image(store, ref, config, [(digest, size, _layer_media_type(tar_path))])


def load(store: Store, archive_path: str) -> list:
    """`hull load -i`: every image of a docker-archive; returns what was loaded: a reference per
    name, or the image ID of an image without RepoTags (loaded untagged, as docker does)."""
    try:
        tar = tarfile.open(archive_path, "r:*")
    except tarfile.TarError:
        raise ImageError(f"{archive_path}: not a docker-archive (not a tar file, plain or compressed)") from None
    except OSError as e:
        raise ImageError(f"{archive_path}: not a docker-archive: {e.strerror or e}") from None
    try:
        with tar, tempfile.TemporaryDirectory(dir=os.path.join(store.root, "tmp")) as work:
            return _load(store, tar, work, archive_path)
    except layer.STREAM_ERRORS as e:
        raise ImageError(f"{archive_path}: the archive is truncated or damaged ({e})") from None


def _load(store: Store, tar, work: str, archive_path: str) -> list:
    loaded = []
    manifest = _member_json(tar, "manifest.json", archive_path)
    if not isinstance(manifest, list) or not manifest:
        raise ImageError(f"{archive_path}: manifest.json is not a list of images")
    for entry in manifest:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                or not isinstance(entry.get("Layers"), list):
            raise ImageError(f"{archive_path}: manifest.json entry without Config and Layers")
        config = _member_json(tar, entry["Config"], archive_path)
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None
        if not isinstance(diff_ids, list) or len(diff_ids) != len(entry["Layers"]):
            raise ImageError(f"{archive_path}: config's rootfs.diff_ids do not match the layers")
        layers = []
        for i, name in enumerate(entry["Layers"]):
            path = os.path.join(work, f"layer{i}")
            _extract_member(tar, name, path, archive_path)
            digest, size = store.put_file(path, move=True)
            layers.append((digest, size, _layer_media_type(store.blob_path(digest))))
        refs = [parse(t) for t in entry.get("RepoTags") or []]
        desc = commit_image(store, refs[0] if refs else None, config, layers)
        for ref in refs[1:]:
            store.tag(ref, desc)
        loaded += refs or [store.image_id(desc)]
    return loaded


def _member(tar, name: str, archive: str):
    """The readable file of an archive member, or ImageError."""
    try:
        f = tar.extractfile(name)
    except KeyError:
        raise ImageError(f"{archive}: no {name} in the archive") from None
    if f is None:
        raise ImageError(f"{archive}: {name} is not a file")
    return f


def _member_json(tar, name: str, archive: str):
    try:
        return json.loads(_member(tar, name, archive).read())
    except ValueError as e:
        raise ImageError(f"{archive}: {name} is not JSON: {e}") from None


def _extract_member(tar, name: str, dest: str, archive: str) -> None:
    with open(dest, "wb") as out:
        shutil.copyfileobj(_member(tar, name, archive), out, 1 << 20)


def save(store: Store, names: list, out_path: str) -> None:
    """`hull save -o`: the images as one docker-archive; layers as uncompressed tars."""
    images = [store.resolve(n) for n in names]
    tmp = out_path + ".tmp"
    try:
        with tarfile.open(tmp, "w") as tar:
            entries, written = [], set()
            for ref, desc in images:
                manifest = store.manifest(desc)
                config_digest = manifest["config"]["digest"]
                config = store.config(manifest)
                config_name = config_digest.removeprefix("sha256:") + ".json"
                if config_name not in written:
                    _add_file(tar, config_name, store.blob_path(config_digest))
                    written.add(config_name)
                layer_names = []
                diff_ids = config["rootfs"]["diff_ids"]
                for diff_id, blob in zip(diff_ids, manifest["layers"]):
                    name = diff_id.removeprefix("sha256:") + "/layer.tar"
                    if name not in written:
                        _add_layer(tar, name, store.blob_path(blob["digest"]), os.path.join(store.root, "tmp"))
                        written.add(name)
                    layer_names.append(name)
                entries.append({"Config": config_name, "RepoTags": [ref.familiar()] if ref and ref.tag else [],
                                "Layers": layer_names})
            data = json.dumps(entries).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
        os.rename(tmp, out_path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, HullError):
            raise ImageError(f"{out_path}: {e.strerror or e}") from None  # the user's path, not our .tmp
        raise


def _add_file(tar, name: str, path: str) -> None:
    info = tar.gettarinfo(path, arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    with open(path, "rb") as f:
        tar.addfile(info, f)


def _add_layer(tar, name: str, blob_path: str, tmp_dir: str) -> None:
    """The layer uncompressed (docker-archive layers are plain tars), through a temporary file
    because a tar member needs its size up front."""
    if layer.compression(blob_path) is None:
        _add_file(tar, name, blob_path)
        return
    with tempfile.NamedTemporaryFile(dir=tmp_dir) as t:
        with open(blob_path, "rb") as f:
            shutil.copyfileobj(layer.decompressed(f), t, 1 << 20)
        t.flush()
        _add_file(tar, name, t.name)
