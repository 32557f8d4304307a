"""Images in and out of the store as OCI image layouts: a directory (skopeo's `oci:`, umoci's, podman's
`oci-dir`) or the same as a tar (`oci-archive`).

    DIR/oci-layout        {"imageLayoutVersion": "1.0.0"}
    DIR/index.json        one descriptor per image; org.opencontainers.image.ref.name is the tag
                          (what skopeo and umoci look up), io.containerd.image.name the full name
    DIR/blobs/sha256/HEX  manifests, configs, layers

Loading copies every blob in through the store's digest check and unpacks the layers before a name
appears, as the other ways in do.
"""
import hashlib
import os
import shutil
import tarfile
import tempfile

from runtime import fastjson as json
from runtime.errors import HullError
from runtime.image.reference import parse
from runtime.image.registry import INDEX_TYPES, MANIFEST_TYPES, choose_platform
from runtime.image import layer
from runtime.image.store import DOCKER_MANIFEST, MEDIA_MANIFEST, REF_NAME, ImageError, Store

FULL_NAME = "io.containerd.image.name"
LAYOUT = {"imageLayoutVersion": "1.0.0"}


def save(store: Store, names: list, out: str, archive: bool = False) -> None:
    """Write the images as a layout directory at out (which must not exist or be empty), or as a tar."""
    images = [store.resolve(n) for n in names]
    if os.path.lexists(out) and not (os.path.isdir(out) and not os.listdir(out) and not archive):
        raise ImageError(f"{out} exists (give a new path, or an empty directory)")
    parent = os.path.dirname(os.path.abspath(out))
    work = tempfile.mkdtemp(dir=parent, prefix=".hull-save-")
    try:
        os.makedirs(os.path.join(work, "blobs", "sha256"))
        entries = []
        for ref, desc in images:
            manifest = store.manifest(desc)
            for blob in [manifest["config"]] + manifest["layers"]:
                dest = os.path.join(work, "blobs", "sha256", blob["digest"].removeprefix("sha256:"))
                if not os.path.exists(dest):
                    shutil.copyfile(store.blob_path(blob["digest"]), dest)  # a copy: the store's stay ours
            entry = _oci_manifest(store, desc, manifest, work)
            if ref is not None:
                entry["annotations"] = {REF_NAME: ref.tag or ref.digest, FULL_NAME: str(ref)}
            entries.append(entry)
        _write_json(os.path.join(work, "oci-layout"), LAYOUT)
        _write_json(os.path.join(work, "index.json"), {"schemaVersion": 2, "manifests": entries})
        if archive:
            tmp = out + ".tmp"
            with tarfile.open(tmp, "w") as tar:
                for name in ("oci-layout", "index.json", "blobs"):
                    tar.add(os.path.join(work, name), arcname=name, filter=_anonymous)
            os.rename(tmp, out)
        else:
            if os.path.isdir(out):
                os.rmdir(out)
            os.rename(work, out)
    except OSError as e:
        raise ImageError(f"{out}: {e.strerror or e}") from None  # the user's path, not our temporary one
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if archive and os.path.exists(out + ".tmp"):
            os.unlink(out + ".tmp")


# docker's media types and the OCI ones skopeo converts them to (a layout holds OCI manifests only)
_TO_OCI = {DOCKER_MANIFEST: MEDIA_MANIFEST,
           "application/vnd.docker.container.image.v1+json": "application/vnd.oci.image.config.v1+json",
           "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
           "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.oci.image.layer.v1.tar",
           "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"}


def _oci_manifest(store: Store, desc: dict, manifest: dict, work: str) -> dict:
    """The manifest in the layout (as an index entry): the store's bytes if it is an OCI one; a
    docker v2 schema 2 manifest converted to OCI media types (so a new digest), as skopeo does."""
    if desc["mediaType"] != DOCKER_MANIFEST:
        with open(store.blob_path(desc["digest"]), "rb") as f:
            data = f.read()
    else:
        def convert(d):
            return {**d, "mediaType": _TO_OCI.get(d.get("mediaType"), d.get("mediaType"))}
        data = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_MANIFEST, "config": convert(manifest["config"]),
                           "layers": [convert(layer) for layer in manifest["layers"]]}).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(os.path.join(work, "blobs", "sha256", digest.removeprefix("sha256:")), "wb") as f:
        f.write(data)
    return {"mediaType": MEDIA_MANIFEST if desc["mediaType"] == DOCKER_MANIFEST else desc["mediaType"],
            "digest": digest, "size": len(data)}


def load(store: Store, path: str) -> list:
    """Every image of a layout directory or oci-archive; returns the references loaded."""
    if os.path.isdir(path):
        return _load_dir(store, path)
    with tempfile.TemporaryDirectory(dir=os.path.join(store.root, "tmp")) as work:
        try:
            with tarfile.open(path, "r:*") as tar:
                for member in tar:
                    if member.isfile() and _layout_name(member.name):
                        dest = os.path.join(work, _layout_name(member.name))
                        os.makedirs(os.path.dirname(dest), exist_ok=True)
                        with tar.extractfile(member) as src, open(dest, "wb") as f:
                            shutil.copyfileobj(src, f, 1 << 20)
        except layer.STREAM_ERRORS as e:
            raise ImageError(f"{path}: not an oci-archive, or truncated or damaged: {e}") from None
        return _load_dir(store, work, path)


def is_layout(path: str) -> bool:
    """An OCI layout directory, or a tar of one that is not also a docker-archive (docker 25 writes both)."""
    if os.path.isdir(path):
        return True
    try:
        with tarfile.open(path, "r:*") as tar:
            names = {n.removeprefix("./") for n in tar.getnames()}
    except (tarfile.TarError, OSError):
        return False  # the docker-archive loader says what is wrong with it
    return "oci-layout" in names and "manifest.json" not in names


def _layout_name(name: str) -> str | None:
    """The names a layout has (anything else in an archive is ignored, '..' included)."""
    name = name.removeprefix("./")
    if name in ("oci-layout", "index.json"):
        return name
    parts = name.split("/")
    if len(parts) == 3 and parts[:2] == ["blobs", "sha256"] and len(parts[2]) == 64 \
            and all(c in "0123456789abcdef" for c in parts[2]):
        return name
    return None


def _load_dir(store: Store, layout: str, shown: str | None = None) -> list:
    shown = shown or layout
    index = _read_json(os.path.join(layout, "index.json"), shown)
    if not os.path.isfile(os.path.join(layout, "oci-layout")) or not isinstance(index, dict) \
            or not isinstance(index.get("manifests"), list) or not index["manifests"]:
        raise ImageError(f"{shown}: not an OCI image layout (oci-layout and an index.json listing images)")
    loaded = []
    for desc in index["manifests"]:
        ref = _name(desc, layout, shown)
        if desc.get("mediaType") in INDEX_TYPES:
            desc = choose_platform(_blob_json(store, layout, desc, shown), "linux/amd64")
        if desc.get("mediaType") not in MANIFEST_TYPES:
            raise ImageError(f"{shown}: unsupported manifest type {desc.get('mediaType')!r}")
        manifest = _blob_json(store, layout, desc, shown)
        try:
            blobs = [manifest["config"]] + list(manifest["layers"])
        except (KeyError, TypeError):
            raise ImageError(f"{shown}: manifest {desc['digest']} has no config or layers") from None
        for blob in blobs:
            _copy_in(store, layout, blob, shown)
        plain = {k: desc[k] for k in ("mediaType", "digest", "size")}
        if ref is None:  # no name in the layout: loaded untagged, as docker does
            store.layer_dirs(plain)
            store.keep_untagged(plain)
            loaded.append(store.image_id(plain))
        else:
            store.tag_verified(ref, plain)
            loaded.append(ref)
    return loaded


def _name(desc: dict, layout: str, shown: str):
    """The image's name: the full name if recorded, else the ref.name annotation as a reference; a
    bare tag names LAYOUT-DIRECTORY:TAG."""
    annotations = desc.get("annotations") or {}
    text = annotations.get(FULL_NAME) or annotations.get(REF_NAME)
    if not text:
        return None
    try:
        if "/" in text or ":" in text:
            return parse(text)
        base = os.path.basename(os.path.normpath(shown)).lower().removesuffix(".tar")
        return parse(f"{base}:{text}")
    except HullError as e:
        raise ImageError(f"{shown}: image name {text!r}: {e.msg}") from None


def _copy_in(store: Store, layout: str, desc: dict, shown: str) -> None:
    digest = desc.get("digest", "")
    src = os.path.join(layout, "blobs", "sha256", store.blob_path(digest).rsplit("/", 1)[1])
    if store.has_blob(digest):
        return
    if not os.path.isfile(src):
        raise ImageError(f"{shown}: blob {digest} is missing")
    store.put_file(src, digest)


def _blob_json(store: Store, layout: str, desc: dict, shown: str) -> dict:
    _copy_in(store, layout, desc, shown)
    obj = store.read_json(desc["digest"])
    if not isinstance(obj, dict):
        raise ImageError(f"{shown}: {desc['digest']} is not a JSON object")
    return obj


def _read_json(path: str, shown: str):
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ImageError(f"{shown}: not an OCI image layout (no index.json)") from None
    except ValueError as e:
        raise ImageError(f"{shown}: index.json is not JSON: {e}") from None


def _write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f)


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
