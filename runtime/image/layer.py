"""Unpack one image layer (a tar, plain or compressed) into a directory of its own, safely, in the
form overlayfs stacks: each layer separate, deletions kept as overlayfs whiteouts.

Safety: the tar is hostile until proven otherwise.
  - Entry names are relative and normalised; absolute names and '..' components are refused.
  - Nothing is written through a symlink: every parent is walked with O_NOFOLLOW from the layer
    root's fd (a tar can plant `a -> /etc` and then `a/passwd`).
  - Hardlinks must name an entry inside this layer, reached the same way.
  - Symlinks are created as they are: they are resolved later, inside the container, never by us.
  - Device nodes are skipped (the runtime gives containers their /dev); fifos are kept.
Whiteouts: `.wh.NAME` becomes a 0/0 character device NAME (overlayfs's whiteout) and
`.wh..wh..opq` marks its directory opaque (trusted.overlay.opaque=y).
Compression is recognised by its magic: gzip, zstd (the zstandard package), or none.
"""
import os
import stat
import tarfile

from runtime.errors import HullError
from runtime.image import tartree
from runtime.linux import beneath

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_GZIP, _ZSTD = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"


class LayerError(HullError):
    """A layer that cannot be unpacked safely or is not a tar at all."""


def compression(path: str) -> str | None:
    """"gzip", "zstd" or None (a plain tar), from a layer file's magic."""
    with open(path, "rb") as f:
        head = f.read(4)
    return "zstd" if head == _ZSTD else "gzip" if head[:2] == _GZIP else None


def _stream_errors() -> tuple:
    import zlib
    return (tarfile.TarError, EOFError, zlib.error)


# what a truncated or damaged tar, gzip or zstd stream raises while it is read (gzip's BadGzipFile
# is an OSError; zstandard's errors are caught where it is used)
STREAM_ERRORS = _stream_errors()


def decompressed(fileobj):
    """A layer blob's tar bytes (anything with read()): gunzipped or unzstd'ed as its magic says."""
    head = fileobj.read(4)
    src = _Prefixed(head, fileobj)
    if head == _ZSTD:
        import zstandard
        return zstandard.ZstdDecompressor().stream_reader(src)
    if head[:2] == _GZIP:
        import gzip
        return gzip.GzipFile(fileobj=src, mode="rb")
    return src


def open_stream(fileobj):
    """(tar stream, hashing reader) for a layer blob, hashed after decompression: the sha256 of
    the uncompressed tar is the layer's diff ID."""
    hashing = _Hashing(decompressed(fileobj))
    return tarfile.open(fileobj=hashing, mode="r|"), hashing


class _Hashing:
    """Reads through, hashing what passes: the uncompressed tar's sha256 is its diff ID."""

    def __init__(self, f):
        import hashlib
        self.f, self.h, self.size = f, hashlib.sha256(), 0

    def read(self, n=-1):
        data = self.f.read(n)
        self.h.update(data)
        self.size += len(data)
        return data

    def digest(self) -> str:
        """Read what tarfile left (end-of-archive padding) and return sha256:HEX of all of it."""
        while self.read(1 << 20):
            pass
        return "sha256:" + self.h.hexdigest()


class _Prefixed:
    """fileobj with the bytes already read from its front put back."""

    def __init__(self, head: bytes, f):
        self.head, self.f = head, f

    def read(self, n=-1):
        if not self.head:
            return self.f.read(n)
        if n is None or n < 0:
            data, self.head = self.head + self.f.read(), b""
            return data
        data, self.head = self.head[:n], self.head[n:]
        return data + (self.f.read(n - len(data)) if len(data) < n else b"")


def unpack(fileobj, dest: str) -> tuple:
    """Unpack the layer read from fileobj (binary, read()) into the existing empty directory dest.
    Returns (diff ID, uncompressed size, notes on entries skipped). Raises LayerError; the caller
    removes dest."""
    import zlib
    root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    out = tartree.Extractor(root, LayerError, replace_dirs=True, where="the layer")
    try:
        tar, hashing = open_stream(fileobj)
        for member in tar:
            _extract(tar, member, out)
        out.finish()
        diff_id = hashing.digest()
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise LayerError(f"layer is not a valid tar: {e}") from None
    except OSError as e:  # a corrupt gzip stream, a full disk, ...
        raise LayerError(f"unpacking layer: {e.strerror or e}") from None
    finally:
        os.close(root)
    return diff_id, hashing.size, out.notes


def clean_name(name: str) -> str:
    """A tar entry's path relative to the layer root, or LayerError if it could leave it."""
    return tartree.clean_name(name, LayerError, "the layer")


def _extract(tar, m: tarfile.TarInfo, out: tartree.Extractor) -> None:
    """One member: whiteouts become overlayfs's, the rest is written as it is."""
    path = clean_name(m.name)
    if not path:  # the layer's root: only its times
        if m.isdir():
            out.dirs.append(("", int(m.mtime * 1e9)))
        return
    name = path.rsplit("/", 1)[-1]
    if name == OPAQUE or name.startswith(WHITEOUT):
        parent, _ = out.parent(path)
        try:
            if name == OPAQUE:
                os.setxattr(parent, "trusted.overlay.opaque", b"y")
            else:
                target = name[len(WHITEOUT):]
                beneath.remove(parent, target)
                os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent)
        finally:
            os.close(parent)
        return
    try:
        out.extract(tar, m, path)
    except FileNotFoundError as e:
        raise LayerError(f"layer entry {m.name!r}: {e.strerror}") from None
