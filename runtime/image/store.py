"""The image store: content-addressed blobs, names, and unpacked layers shared between images.

    ROOT/                       (default /var/lib/hull/images)
      oci-layout, index.json    an OCI image layout: index.json lists one manifest per name, the
                                name in the annotation org.opencontainers.image.ref.name
      blobs/sha256/HEX          manifests, configs and layer blobs, named by their digest
      layers/CHAIN/diff         a layer unpacked once per chain (the layer and all below it), shared
                                by every image that has that chain; CHAIN is the OCI chain ID
      layers/CHAIN/size         the layer's uncompressed size (what `images` adds up, as docker)
      l/SHORT -> ../layers/CHAIN/diff
                                short names so many lowerdirs fit the one page of mount options
      gzip/HEX                  the digest of a gzip copy of the uncompressed layer blob HEX (push)
      tmp/                      blobs and layers being written; renamed into place when verified

index.json entries without a name are untagged images: one whose name moved to another image stays,
as docker's <none>:<none>, until it is pruned or removed. An entry may also record the
repository digest (NAME@sha256:...) the manifest was pulled from or pushed to (docker's RepoDigests).

Writers take ROOT/lock (flock). A blob appears under its name only after its digest was checked,
and a layer directory only after it unpacked completely, so an interruption leaves only tmp/.
Work that spans several locked steps (a build, an upload spooled to tmp/) also holds ROOT/tmp.lock
shared (claim_tmp); prune frees unnamed content and tmp/ only when it can take that lock alone, so
it never removes what another command is still making.
"""
import fcntl
import hashlib
import os
import shutil
import tempfile
import time

from runtime import fastjson as json, trace
from runtime.errors import HullError, NotFound
from runtime.files import write_atomic
from runtime.image import layer
from runtime.image.reference import Reference, parse

DEFAULT_ROOT = "/var/lib/hull/images"
REF_NAME = "org.opencontainers.image.ref.name"
REPO_DIGEST = "dev.hull.repo-digest"  # NAME@DIGEST: where the manifest came from or went to
BUILD_CACHE = "dev.hull.build-cache"  # the cache key of a build step whose result this image is
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
_GZIP_TYPE = {MEDIA_LAYER: MEDIA_LAYER + "+gzip", DOCKER_LAYER_TAR: "application/vnd.docker.image.rootfs.diff.tar.gzip"}


class ImageError(HullError):
    """A malformed manifest, config or blob, or a digest that does not match."""
    status = 400  # the API's answer: bad input (an archive, a manifest), not an engine failure


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def chain_ids(diff_ids: list) -> list:
    """The OCI chain ID of each layer: its own diff ID for the first, then
    sha256(previous chain ID + " " + diff ID)."""
    chains = []
    for d in diff_ids:
        chains.append(d if not chains else "sha256:" + hashlib.sha256(f"{chains[-1]} {d}".encode()).hexdigest())
    return chains


class Store:
    def __init__(self, root: str = DEFAULT_ROOT):
        self.root = root
        for d in ("blobs/sha256", "layers", "l", "tmp"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        layout = os.path.join(root, "oci-layout")
        if not os.path.exists(layout):
            self._write(layout, {"imageLayoutVersion": "1.0.0"})
        self._lock_fd = None

    # -- locking and atomic files -------------------------------------------------------------------
    def __enter__(self) -> "Store":
        self._lock_fd = os.open(os.path.join(self.root, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self._lock_fd)
        self._lock_fd = None

    def claim_tmp(self) -> "TmpClaim":
        """Keep prune from freeing tmp/ and unnamed blobs and layers while the claim is held."""
        return TmpClaim(self.root)

    def _write(self, path: str, obj) -> None:
        write_atomic(path, json.dumps(obj), tmp_dir=os.path.join(self.root, "tmp"))

    # -- blobs ---------------------------------------------------------------------------------------
    def blob_path(self, digest: str) -> str:
        algo, _, hexpart = digest.partition(":")
        if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
            raise ImageError(f"unsupported or malformed digest {digest!r}")
        return os.path.join(self.root, "blobs", "sha256", hexpart)

    def has_blob(self, digest: str) -> bool:
        return os.path.exists(self.blob_path(digest))

    def put_file(self, path: str, expected: str | None = None, move: bool = False, verified: bool = False) -> tuple:
        """Store the file at path (moved if move, else copied); check it against expected unless the
        caller already did while writing it (verified). Returns (digest, size)."""
        digest = expected if verified and expected else sha256_file(path)
        if expected and digest != expected:
            raise ImageError(f"blob digest mismatch: expected {expected}, got {digest}")
        dest = self.blob_path(digest)
        size = os.path.getsize(path)
        if os.path.exists(dest):
            if move:
                os.unlink(path)
        elif move:
            os.rename(path, dest)  # callers keep their files in tmp/, on the store's filesystem
        else:
            fd, tmp = tempfile.mkstemp(dir=os.path.join(self.root, "tmp"))
            os.close(fd)
            shutil.copyfile(path, tmp)
            os.rename(tmp, dest)
        return digest, size

    def put_bytes(self, data: bytes, expected: str | None = None) -> tuple:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if expected and digest != expected:
            raise ImageError(f"blob digest mismatch: expected {expected}, got {digest}")
        dest = self.blob_path(digest)
        if not os.path.exists(dest):
            fd, tmp = tempfile.mkstemp(dir=os.path.join(self.root, "tmp"))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.rename(tmp, dest)
        return digest, len(data)

    def read_json(self, digest: str) -> dict:
        try:
            with open(self.blob_path(digest), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in the store") from None
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise ImageError(f"blob {digest} is corrupt in the store")
        try:
            return json.loads(data)
        except ValueError as e:
            raise ImageError(f"blob {digest} is not JSON: {e}") from None

    # -- names ---------------------------------------------------------------------------------------
    def _index(self) -> dict:
        try:
            with open(os.path.join(self.root, "index.json"), "rb") as f:
                return json.load(f)
        except FileNotFoundError:
            return {"schemaVersion": 2, "manifests": []}

    def entries(self) -> list:
        """[(Reference or None for an untagged image, descriptor)] for every image in the index."""
        out = []
        for desc in self._index()["manifests"]:
            name = (desc.get("annotations") or {}).get(REF_NAME)
            out.append((parse(name) if name else None, desc))
        return out

    def images(self) -> list:
        """[(Reference, manifest descriptor)] for every name, in the index's order."""
        return [(ref, desc) for ref, desc in self.entries() if ref is not None]

    def tag(self, ref: Reference, desc: dict, repo_digest: str | None = None) -> None:
        """Point ref at the manifest descriptor. The image it named before stays, untagged, if no
        other name has it (docker's dangling image)."""
        index = self._index()
        entries = index["manifests"]
        old = next((d for d in entries if _name(d) == str(ref)), None)
        annotations = {REF_NAME: str(ref)}
        if repo_digest or old and old["digest"] == desc["digest"] and REPO_DIGEST in old.get("annotations", {}):
            annotations[REPO_DIGEST] = repo_digest or old["annotations"][REPO_DIGEST]
        keep = [d for d in entries if _name(d) != str(ref) and not (
            _name(d) is None and d["digest"] == desc["digest"] and not _cached(d))]
        keep.append({**{k: desc[k] for k in ("mediaType", "digest", "size") if k in desc}, "annotations": annotations})
        if old and old["digest"] != desc["digest"] and not any(d["digest"] == old["digest"] for d in keep):
            keep.append(_untagged(old))
        index["manifests"] = keep
        self._write(os.path.join(self.root, "index.json"), index)

    # -- the build cache: untagged entries that name the build step they are the result of --------------
    def cache_get(self, key: str) -> dict | None:
        for d in self._index()["manifests"]:
            if (d.get("annotations") or {}).get(BUILD_CACHE) == key and self.has_blob(d["digest"]):
                return d
        return None

    def cache_put(self, key: str, desc: dict) -> None:
        index = self._index()
        entries = [d for d in index["manifests"] if (d.get("annotations") or {}).get(BUILD_CACHE) != key]
        entries.append({**{k: desc[k] for k in ("mediaType", "digest", "size")}, "annotations": {BUILD_CACHE: key}})
        index["manifests"] = entries
        self._write(os.path.join(self.root, "index.json"), index)

    def cache_entries(self) -> list:
        return [d for d in self._index()["manifests"] if _cached(d)]

    def cache_clear(self) -> int:
        """Forget every build step (prune() then frees what only they used); returns how many."""
        index = self._index()
        keep = [d for d in index["manifests"] if not _cached(d)]
        gone = len(index["manifests"]) - len(keep)
        index["manifests"] = keep
        self._write(os.path.join(self.root, "index.json"), index)
        return gone

    def keep_untagged(self, desc: dict) -> None:
        """List an image without a name (a loaded archive without RepoTags, a commit without one)."""
        index = self._index()
        if not any(d["digest"] == desc["digest"] and not _cached(d) for d in index["manifests"]):
            index["manifests"].append(_untagged(desc))
            self._write(os.path.join(self.root, "index.json"), index)

    def untag(self, ref: Reference) -> None:
        """Remove a name; an image left with none is gone (prune() then frees its data)."""
        index = self._index()
        keep = [d for d in index["manifests"] if _name(d) != str(ref)]
        if len(keep) == len(index["manifests"]):
            raise NotFound(f"No such image: {ref.familiar()}")
        index["manifests"] = keep
        self._write(os.path.join(self.root, "index.json"), index)

    def remove(self, image_id: str) -> list:
        """Remove every entry (names and the untagged one) of the image; returns the names it had."""
        index = self._index()
        gone = [d for d in index["manifests"] if self.image_id(d) == image_id]
        index["manifests"] = [d for d in index["manifests"] if d not in gone]
        self._write(os.path.join(self.root, "index.json"), index)
        return [parse(_name(d)) for d in gone if _name(d)]

    def lookup(self, text: str) -> tuple:
        """(Reference or None, manifest descriptor) for a name, or a full or short image ID (config
        digest; untagged images are found this way)."""
        entries = self.entries()
        try:
            ref = parse(text)
            for r, desc in entries:
                if r == ref:
                    return r, desc
        except HullError:
            ref = None
        want = text.removeprefix("sha256:")
        if len(want) >= 4 and all(c in "0123456789abcdef" for c in want):
            for r, desc in entries:
                if self.image_id(desc).removeprefix("sha256:").startswith(want):
                    return r, desc
        raise NotFound(f"No such image: {text}")

    def resolve(self, text: str) -> tuple:
        """lookup(), but the reference is None when text was an image ID rather than a name (what
        `save` and `rmi` need: docker writes no RepoTags for an image saved by ID)."""
        ref, desc = self.lookup(text)
        try:
            named = ref is not None and parse(text) == ref
        except HullError:
            named = False
        return (ref if named else None), desc

    def names_of(self, image_id: str) -> list:
        """Every name of an image (by config digest), in the index's order."""
        return [r for r, d in self.images() if self.image_id(d) == image_id]

    def repo_digests(self, image_id: str) -> list:
        """docker's RepoDigests: NAME@DIGEST of each registry the image came from or went to."""
        out = []
        for r, d in self.entries():
            if self.image_id(d) != image_id:
                continue
            rd = (d.get("annotations") or {}).get(REPO_DIGEST) or (str(r) if r is not None and r.digest else None)
            if rd and rd not in out:
                out.append(rd)
        return out

    # -- images --------------------------------------------------------------------------------------
    def manifest(self, desc: dict) -> dict:
        m = self.read_json(desc["digest"])
        if "config" not in m or "layers" not in m:
            raise ImageError(f"manifest {desc['digest']} has no config or layers")
        return m

    def image_id(self, desc: dict) -> str:
        """docker's image ID: the config's digest."""
        return self.manifest(desc)["config"]["digest"]

    def config(self, manifest: dict) -> dict:
        return self.read_json(manifest["config"]["digest"])

    def tag_verified(self, ref: Reference, desc: dict, repo_digest: str | None = None) -> None:
        """Name an image only once every layer unpacked (and so matched its diff ID)."""
        self._unpacked_chains(desc)
        self.tag(ref, desc, repo_digest)

    def gzipped(self, blob: dict, make: bool = True) -> dict:
        """The descriptor of a layer as it goes to a registry: a gzip copy of an uncompressed one
        (made once, kept beside it: gzip/HEX names the copy), compressed ones as they are.
        make=False: the copy if there is one, else the layer as it is."""
        if blob["mediaType"] not in (MEDIA_LAYER, DOCKER_LAYER_TAR):
            return blob
        mapping = os.path.join(self.root, "gzip", blob["digest"].removeprefix("sha256:"))
        try:
            with open(mapping) as f:
                digest = f.read().strip()
            if self.has_blob(digest):
                return {**blob, "mediaType": _GZIP_TYPE[blob["mediaType"]], "digest": digest,
                        "size": os.path.getsize(self.blob_path(digest))}
        except FileNotFoundError:
            pass
        if not make:
            return blob
        import gzip
        fd, tmp = tempfile.mkstemp(dir=os.path.join(self.root, "tmp"))
        with os.fdopen(fd, "wb") as raw, open(self.blob_path(blob["digest"]), "rb") as src:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as z:
                shutil.copyfileobj(src, z, 1 << 20)
        digest, size = self.put_file(tmp, move=True)
        os.makedirs(os.path.dirname(mapping), exist_ok=True)
        with open(mapping, "w") as f:
            f.write(digest)
        return {**blob, "mediaType": _GZIP_TYPE[blob["mediaType"]], "digest": digest, "size": size}

    def size(self, desc: dict) -> int:
        """The image's uncompressed size: its layers' tar sizes, as docker and podman show it."""
        return sum(self.layer_sizes(desc))

    def layer_sizes(self, desc: dict) -> list:
        """Each layer's uncompressed size, bottom first."""
        sizes = []
        for chain, _, blob in self._layers(self.manifest(desc)):
            path = os.path.join(self._home(chain), "size")
            try:
                with open(path) as f:
                    sizes.append(int(f.read()))
            except (OSError, ValueError):  # unpacked before sizes were kept: measure it once
                n = _tar_size(self.blob_path(blob))
                if os.path.isdir(self._home(chain)):
                    with open(path, "w") as f:
                        f.write(str(n))
                sizes.append(n)
        return sizes

    def layer_dirs(self, desc: dict) -> list:
        """Each layer's unpacked directory, bottom first, unpacking those not yet here."""
        return [os.path.join(self._home(c), "diff") for c in self._unpacked_chains(desc)]

    def lower_links(self, desc: dict) -> list:
        """The image's layers as l/ names relative to the store root, bottom first (unpacking any
        missing): what an overlay mount made from the store root lists as lowerdir."""
        return [self._link(c) for c in self._unpacked_chains(desc)]

    def _layers(self, manifest: dict) -> list:
        """[(chain ID, diff ID, blob digest)] of the image's layers, bottom first."""
        diff_ids = (self.config(manifest).get("rootfs") or {}).get("diff_ids") or []
        if len(diff_ids) != len(manifest["layers"]):
            raise ImageError("image config's rootfs.diff_ids do not match the manifest's layers")
        return list(zip(chain_ids(diff_ids), diff_ids, [blob["digest"] for blob in manifest["layers"]]))

    def _unpacked_chains(self, desc: dict) -> list:
        """The image's chain IDs, bottom first, after unpacking any layer not yet here."""
        layers = self._layers(self.manifest(desc))
        missing = [entry for entry in layers if not os.path.isdir(os.path.join(self._home(entry[0]), "diff"))]
        if missing:
            self._unpack_all(missing)
        return [chain for chain, _, _ in layers]

    def _home(self, chain: str) -> str:
        return os.path.join(self.root, "layers", chain.removeprefix("sha256:"))

    def _link(self, chain: str) -> str:
        """l/SHORT -> ../layers/CHAIN/diff, made if missing; returns l/SHORT."""
        link = os.path.join("l", _short(chain))
        if not os.path.lexists(os.path.join(self.root, link)):
            target = os.path.join("..", "layers", os.path.basename(self._home(chain)), "diff")
            os.symlink(target, os.path.join(self.root, link))
        return link

    def _unpack_all(self, missing: list) -> None:
        """Unpack layers [(chain, diff ID, blob digest)] side by side, then install them once all
        verify. Each goes to its own directory; most of the time is the kernel creating files, which
        threads do in parallel (the GIL is released in those calls)."""
        from concurrent.futures import ThreadPoolExecutor

        def unpack(blob):
            with open(self.blob_path(blob), "rb") as f:
                return self.unpack(f)
        pool = ThreadPoolExecutor(max_workers=min(len(missing), os.cpu_count() or 1, 4))
        futures = [pool.submit(unpack, blob) for _, _, blob in missing]
        try:
            done = [f.result() for f in futures]
            for (chain, diff_id, blob), (got, _) in zip(missing, done):
                if got != diff_id:
                    raise ImageError(f"layer {blob}: content is {got}, the config says {diff_id}")
            for (chain, _, _), (_, work) in zip(missing, done):
                self.install(work, chain)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for f in futures:  # whatever did not get installed (an error or an interruption)
                if not f.cancelled() and f.exception() is None and os.path.isdir(f.result()[1]):
                    shutil.rmtree(f.result()[1])

    def unpack(self, fileobj) -> tuple:
        """Unpack a layer into a new directory under tmp/: (diff ID, that directory)."""
        work = tempfile.mkdtemp(dir=os.path.join(self.root, "tmp"))
        try:
            os.mkdir(os.path.join(work, "diff"), 0o755)
            started = time.perf_counter() if trace.enabled else 0
            diff_id, size, _ = layer.unpack(fileobj, os.path.join(work, "diff"))
            if trace.enabled:
                trace.emit(f"unpack layer {diff_id} into {work}/diff", f"{size} bytes", started, kind="layer")
            with open(os.path.join(work, "size"), "w") as f:
                f.write(str(size))
            return diff_id, work
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    def install(self, work: str, chain: str) -> str:
        """Move an unpacked layer (from unpack) to layers/CHAIN and link it from l/."""
        home = self._home(chain)
        if os.path.isdir(home):
            shutil.rmtree(work)
        else:
            os.rename(work, home)
        self._link(chain)
        return os.path.join(home, "diff")

    def prune(self) -> tuple:
        """Remove blobs no name reaches, layers no image uses and tmp/; (blobs removed, layers
        removed). Nothing while another command holds a claim (claim_tmp): the next prune frees it."""
        free = os.open(os.path.join(self.root, "tmp.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(free, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(free)
            trace.note("prune: a build or an upload holds tmp.lock: unnamed content is left for the next prune",
                       kind="store")
            return 0, 0
        try:
            return self._collect()
        finally:
            os.close(free)

    def _collect(self) -> tuple:
        blobs, chains = set(), set()
        for _, desc in self.entries():
            blobs.add(desc["digest"])
            try:
                m = self.manifest(desc)
                layers = self._layers(m)
            except HullError:
                continue
            blobs.add(m["config"]["digest"])
            blobs.update(blob for _, _, blob in layers)
            chains.update(chain.removeprefix("sha256:") for chain, _, _ in layers)
        gzip_dir = os.path.join(self.root, "gzip")
        for hexpart in os.listdir(gzip_dir) if os.path.isdir(gzip_dir) else []:
            if "sha256:" + hexpart in blobs:  # a kept layer keeps its gzip copy for the next push
                with open(os.path.join(gzip_dir, hexpart)) as f:
                    blobs.add(f.read().strip())
            else:
                os.unlink(os.path.join(gzip_dir, hexpart))
        gone_blobs = gone_layers = 0
        for hexpart in os.listdir(os.path.join(self.root, "blobs", "sha256")):
            if "sha256:" + hexpart not in blobs:
                os.unlink(os.path.join(self.root, "blobs", "sha256", hexpart))
                gone_blobs += 1
        for chain in os.listdir(os.path.join(self.root, "layers")):
            if chain not in chains:
                try:
                    os.unlink(os.path.join(self.root, "l", _short("sha256:" + chain)))
                except FileNotFoundError:
                    pass
                shutil.rmtree(os.path.join(self.root, "layers", chain))
                gone_layers += 1
        shutil.rmtree(os.path.join(self.root, "tmp"))
        os.makedirs(os.path.join(self.root, "tmp"), exist_ok=True)  # (a Store opened meanwhile makes it too)
        return gone_blobs, gone_layers


class TmpClaim:
    """A shared flock on ROOT/tmp.lock, held by a build or an upload until release()."""

    def __init__(self, root: str):
        self.fd = os.open(os.path.join(root, "tmp.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_SH)  # (waits only while a prune frees content)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "TmpClaim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _name(desc: dict) -> str | None:
    return (desc.get("annotations") or {}).get(REF_NAME)


def _cached(desc: dict) -> bool:
    return BUILD_CACHE in (desc.get("annotations") or {})


def is_cache(desc: dict) -> bool:
    """A build step's result (hidden from `images` without -a, taken by `builder prune`)."""
    return _cached(desc)


def _untagged(desc: dict) -> dict:
    """The index entry of an image that lost its name: the descriptor, and where it came from."""
    entry = {k: desc[k] for k in ("mediaType", "digest", "size") if k in desc}
    rd = (desc.get("annotations") or {}).get(REPO_DIGEST)
    if rd:
        entry["annotations"] = {REPO_DIGEST: rd}
    return entry


def _tar_size(blob_path: str) -> int:
    with open(blob_path, "rb") as f:
        stream, n = layer.decompressed(f), 0
        while chunk := stream.read(1 << 20):
            n += len(chunk)
    return n


def _short(chain: str) -> str:
    """A layer's name under l/: short, so many lowerdirs fit overlayfs's one page of options."""
    return hashlib.sha256(chain.encode()).hexdigest()[:26]
