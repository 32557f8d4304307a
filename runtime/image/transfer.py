"""`hull pull` and `hull push`: moving images between the store and a registry.

Pull: the manifest (an index is resolved to one platform), then every blob the store lacks, each
verified as it arrives and renamed into the store; layers are unpacked (and so checked against the
config's diff IDs) before the name appears. Push: every blob the registry lacks — mounted from
another repository of the same registry when a local name says it is there, uploaded otherwise —
then the manifest, byte for byte, so the registry's digest is the store's.
"""
import hashlib
import os
import sys

from runtime import fastjson as json
from runtime.image.config import Config
from runtime.image.reference import Reference
from runtime.image.registry import INDEX_TYPES, MANIFEST_TYPES, Registry, choose_platform
from runtime.image.store import ImageError, Store


class Progress:
    """docker-style status per blob: a bar redrawn in place on a terminal, a line per finished blob
    otherwise, nothing when quiet."""

    def __init__(self, out=sys.stdout, quiet: bool = False):
        self.out, self.quiet, self.tty = out, quiet, out.isatty()
        self.shown = None

    def line(self, text: str) -> None:
        if not self.quiet:
            self.out.write(("\r\x1b[K" if self.tty else "") + text + "\n")
            self.out.flush()

    def bar(self, digest: str, verb: str):
        """A callback(done, total) drawing one blob's bar (a no-op when not on a terminal)."""
        if self.quiet or not self.tty:
            return None

        def draw(done: int, total: int) -> None:
            step = done * 40 // total if total else 0
            if (digest, step) == self.shown:
                return  # redraw only when the bar moves
            self.shown = (digest, step)
            bar = "=" * max(step - 1, 0) + (">" if step else "") + " " * (40 - max(step, 1))
            self.out.write(f"\r\x1b[K{digest[7:19]}: {verb} [{bar}] {_mb(done)}/{_mb(total)}")
            self.out.flush()
        return draw


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}MB" if n >= 1e5 else f"{n / 1e3:.1f}kB"


def pull(store: Store, ref: Reference, platform: str = "linux/amd64", config: Config | None = None,
         progress: Progress | None = None) -> dict:
    """Fetch ref into the store and name it; returns the manifest descriptor. A reference with a
    tag and a digest is pulled by the digest (docker ignores the tag then)."""
    progress = progress or Progress(quiet=True)
    if ref.digest and ref.tag:
        ref = Reference(ref.domain, ref.path, None, ref.digest)
    progress.line(f"{ref.tag or ref.digest}: Pulling from {ref.path}")
    reg = _registry(ref.domain, config)
    data, media_type, digest = reg.manifest(ref.path, ref.digest or ref.tag)
    if media_type in INDEX_TYPES:
        chosen = choose_platform(_json(data, ref), platform)
        data, media_type, digest = reg.manifest(ref.path, chosen["digest"])
    if media_type not in MANIFEST_TYPES:
        raise ImageError(f"{ref}: unsupported manifest type {media_type!r}")
    manifest = _json(data, ref)
    try:
        layers = [b["digest"] for b in manifest["layers"]]
        digests = [manifest["config"]["digest"]] + layers
    except (KeyError, TypeError):
        raise ImageError(f"{ref}: malformed manifest (no config or layers)") from None
    for d in digests:
        store.blob_path(d)  # refuses a malformed digest before anything is fetched
    missing = [d for d in dict.fromkeys(digests) if not store.has_blob(d)]
    for d in layers:  # docker's lines: the config is not a layer
        progress.line(f"{d[7:19]}: {'Pulling fs layer' if d in missing else 'Already exists'}")
    tmp = os.path.join(store.root, "tmp")
    for d in missing:
        path = reg.blob(ref.path, d, tmp, progress.bar(d, "Downloading") if d in layers else None)
        store.put_file(path, d, move=True, verified=True)  # verified as it arrived
        if d in layers:
            progress.line(f"{d[7:19]}: Download complete")
    before = next((desc["digest"] for r, desc in store.images() if r == ref), None)
    store.put_bytes(data, digest)
    desc = {"mediaType": media_type, "digest": digest, "size": len(data)}
    store.tag_verified(ref, desc, repo_digest=f"{ref.name}@{digest}")  # unpacks the new layers
    for d in layers:
        if d in missing:
            progress.line(f"{d[7:19]}: Pull complete")
    progress.line(f"Digest: {digest}")
    fresh = missing or before != digest
    progress.line(f"Status: {'Downloaded newer image for' if fresh else 'Image is up to date for'} {ref.familiar()}")
    return desc


def push(store: Store, name: str, config: Config | None = None, progress: Progress | None = None) -> str:
    """Send the image named name (a reference with a registry) to that registry; returns the
    manifest digest the registry reports. Uncompressed layers go up gzipped, as docker and podman
    send them: the gzip blob is kept beside the plain one, so the next push only asks for it."""
    progress = progress or Progress(quiet=True)
    ref, desc = store.lookup(name)
    if ref is None or ref.digest:
        raise ImageError(f"{name}: push needs a name with a tag, not an ID or a digest")
    progress.line(f"The push refers to repository [{ref.name}]")
    manifest = store.manifest(desc)
    layers = [store.gzipped(blob) for blob in manifest["layers"]]
    reg = _registry(ref.domain, config)
    sources = _mount_sources(store, ref)
    for blob in layers + [manifest["config"]]:
        d = blob["digest"]
        # docker's lines name layers only: the config goes up too, silently
        shown = progress if blob is not manifest["config"] else Progress(quiet=True)
        short = d[7:19]
        if reg.has_blob(ref.path, d):
            shown.line(f"{short}: Layer already exists")
            continue
        location = None
        if d in sources:
            location = reg.mount_blob(ref.path, d, sources[d])
            if location is None:
                shown.line(f"{short}: Mounted from {sources[d]}")
                continue
        reg.upload_blob(ref.path, d, store.blob_path(d), location, shown.bar(d, "Pushing"))
        shown.line(f"{short}: Pushed")
    if layers == manifest["layers"]:
        with open(store.blob_path(desc["digest"]), "rb") as f:
            data = f.read()  # byte for byte: the registry's digest is the store's
        media_type = desc["mediaType"]
    else:
        data = json.dumps({**manifest, "layers": layers}).encode()
        media_type = manifest.get("mediaType") or desc["mediaType"]
    sent = "sha256:" + hashlib.sha256(data).hexdigest()
    digest = reg.put_manifest(ref.path, ref.tag, data, media_type) or sent
    if digest != sent:
        raise ImageError(f"{ref.familiar()}: the registry stored the manifest as {digest}, not {sent}")
    store.tag(ref, desc, repo_digest=f"{ref.name}@{digest}")
    progress.line(f"{ref.tag}: digest: {digest} size: {len(data)}")
    return digest


def login(domain: str, user: str, password: str, config: Config) -> None:
    """Check the credentials against the registry, then keep them."""
    check_login(domain, user, password, config)
    config.set_credentials(domain, user, password)


def check_login(domain: str, user: str, password: str, config: Config | None = None) -> None:
    """The registry accepts these credentials (or its error is raised)."""
    _registry(domain, config, (user, password)).ping()


def _registry(domain: str, config: Config | None, credentials=None) -> Registry:
    config = config or Config()
    return Registry(domain, credentials or config.credentials(domain), config.insecure(domain),
                    warn=lambda text: sys.stderr.write(text + "\n"))


def _mount_sources(store: Store, target: Reference) -> dict:
    """{blob digest: repository} for blobs of other local names on the target's registry: a
    cross-repository mount lets the registry link them instead of receiving them again."""
    sources = {}
    for ref, desc in store.images():
        if ref.domain != target.domain or ref.path == target.path:
            continue
        try:
            m = store.manifest(desc)
        except (ImageError, OSError):
            continue
        for blob in [m["config"]] + [store.gzipped(layer, make=False) for layer in m["layers"]]:
            sources.setdefault(blob["digest"], ref.path)
    return sources


def _json(data: bytes, ref: Reference) -> dict:
    try:
        obj = json.loads(data)
    except ValueError:
        raise ImageError(f"{ref}: the manifest is not JSON") from None
    if not isinstance(obj, dict):
        raise ImageError(f"{ref}: the manifest is not a JSON object")
    return obj
