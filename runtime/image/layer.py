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
import errno
import os
import stat
import tarfile

from runtime.errors import HullError

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
    notes, dirs = [], []
    root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        tar, hashing = open_stream(fileobj)
        for member in tar:
            _extract(tar, member, root, dirs, notes)
        for path, m in reversed(dirs):  # after their contents, which change a directory's mtime
            _set_dir_times(root, path, m)
        diff_id = hashing.digest()
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise LayerError(f"layer is not a valid tar: {e}") from None
    except OSError as e:  # a corrupt gzip stream, a full disk, ...
        raise LayerError(f"unpacking layer: {e.strerror or e}") from None
    finally:
        os.close(root)
    return diff_id, hashing.size, notes


def clean_name(name: str) -> str:
    """A tar entry's path relative to the layer root, or LayerError if it could leave it."""
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise LayerError(f"layer entry {name!r} leaves the layer ('..')")
        parts.append(part)
    if name.startswith("/") and parts:
        raise LayerError(f"layer entry {name!r} is an absolute path")
    return "/".join(parts)


def _walk_parent(root: int, path: str, create: bool) -> tuple:
    """(fd of path's parent directory, last component), walking from root without following
    symlinks; missing directories are made when create is true."""
    parts = path.split("/")
    fd = os.dup(root)
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ENOTDIR, errno.ELOOP):  # a file or a symlink in the way
                    raise LayerError(f"layer entry {path!r} goes through {part!r}, which is not a directory "
                                     "(a symlink is never followed)") from None
                raise
            os.close(fd)
            fd = nxt
        return fd, parts[-1]
    except BaseException:
        os.close(fd)
        raise


def _remove(parent: int, name: str) -> None:
    """Remove whatever is at name (a later tar entry replaces an earlier one)."""
    try:
        st = os.lstat(name, dir_fd=parent)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        try:
            for child in os.listdir(fd):
                _remove(fd, child)
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=parent)
    else:
        os.unlink(name, dir_fd=parent)


def _extract(tar, m: tarfile.TarInfo, root: int, dirs: list, notes: list) -> None:
    path = clean_name(m.name)
    if not path:
        if m.isdir():
            dirs.append(("", m))
        return
    parent, name = _walk_parent(root, path, create=True)
    try:
        if name == OPAQUE:
            os.setxattr(f"/proc/self/fd/{parent}", "trusted.overlay.opaque", b"y")
            return
        if name.startswith(WHITEOUT):
            target = name[len(WHITEOUT):]
            _remove(parent, target)
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent)
            return
        if m.isdir():
            try:
                if not stat.S_ISDIR(os.lstat(name, dir_fd=parent).st_mode):
                    _remove(parent, name)
                    os.mkdir(name, 0o700, dir_fd=parent)
            except FileNotFoundError:
                os.mkdir(name, 0o700, dir_fd=parent)
            dirs.append((path, m))
            _set_owner_mode(parent, name, m)
            return
        _remove(parent, name)
        if m.isreg():
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=parent)
            with os.fdopen(fd, "wb") as out:
                src = tar.extractfile(m)
                while chunk := src.read(1 << 20):
                    out.write(chunk)
                _set_xattrs(out.fileno(), m)
        elif m.issym():
            os.symlink(m.linkname, name, dir_fd=parent)
        elif m.islnk():
            src_path = clean_name(m.linkname)
            if not src_path:
                raise LayerError(f"layer hardlink {m.name!r} -> {m.linkname!r} names the layer root")
            src_parent, src_name = _walk_parent(root, src_path, create=False)
            try:
                os.link(src_name, name, src_dir_fd=src_parent, dst_dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                raise LayerError(f"layer hardlink {m.name!r} -> {m.linkname!r}: no such entry in the layer") from None
            finally:
                os.close(src_parent)
            return  # a hardlink shares the inode's owner, mode and times
        elif m.isfifo():
            os.mkfifo(name, 0o600, dir_fd=parent)
        elif m.ischr() or m.isblk():
            notes.append(f"skipped device node {path}")
            return
        else:
            notes.append(f"skipped {path}: unsupported tar entry type {m.type!r}")
            return
        _set_owner_mode(parent, name, m)
        _set_times(parent, name, m)
    except FileNotFoundError as e:
        raise LayerError(f"layer entry {m.name!r}: {e.strerror}") from None
    finally:
        os.close(parent)


def _set_owner_mode(parent: int, name: str, m: tarfile.TarInfo) -> None:
    os.chown(name, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
    if not m.issym():  # chown cleared set-id bits: set the mode after it
        os.chmod(name, stat.S_IMODE(m.mode), dir_fd=parent)


def _set_times(parent: int, name: str, m: tarfile.TarInfo) -> None:
    mtime = int(m.mtime * 1e9)
    os.utime(name, ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)


def _set_dir_times(root: int, path: str, m: tarfile.TarInfo) -> None:
    """A directory's times, reached again without following symlinks (a later entry may have
    replaced it, or a parent, with one)."""
    if not path:
        mtime = int(m.mtime * 1e9)
        os.utime(root, ns=(mtime, mtime))
        return
    try:
        parent, name = _walk_parent(root, path, create=False)
    except (LayerError, FileNotFoundError):
        return
    try:
        if stat.S_ISDIR(os.lstat(name, dir_fd=parent).st_mode):
            _set_times(parent, name, m)
    except FileNotFoundError:
        pass
    finally:
        os.close(parent)


def _set_xattrs(fd: int, m: tarfile.TarInfo) -> None:
    """PAX SCHILY.xattr.* records (file capabilities live there: security.capability)."""
    for key, value in (m.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr."):
            try:
                os.setxattr(fd, key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape"))
            except OSError:
                pass
