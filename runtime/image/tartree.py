"""Directory trees to tar streams and back, through directory fds (runtime/linux/beneath.py):
nothing is read or written through a symlink, whoever swaps one in meanwhile.

Packing (cp out, export, commit): each entry is opened without following it and described from
what was opened; an entry that vanishes while it is read is skipped, a file that shrinks is padded.
Extracting (cp, image layers, build contexts on stdin): names are relative and may not climb ('..',
absolute names refused); every parent is walked from the destination's fd; what is at a name is
replaced, never written through; hard links must name an entry inside; device nodes are skipped.
"""
import errno
import os
import stat
import tarfile

from runtime.errors import InvalidArgument
from runtime.linux import beneath

_KINDS = {stat.S_IFREG: tarfile.REGTYPE, stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFLNK: tarfile.SYMTYPE,
          stat.S_IFIFO: tarfile.FIFOTYPE, stat.S_IFCHR: tarfile.CHRTYPE, stat.S_IFBLK: tarfile.BLKTYPE}


def clean_name(name: str, error=InvalidArgument, where: str = "the destination") -> str:
    """A tar entry's path relative to the destination, or error if it could leave it."""
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise error(f"refusing {name!r}: it leaves {where} ('..')")
        parts.append(part)
    if name.startswith("/") and parts:
        raise error(f"refusing {name!r}: an absolute path")
    return "/".join(parts)


# -- packing --------------------------------------------------------------------------------------

def info(st, arcname: str, linkname: str = "") -> tarfile.TarInfo | None:
    """A tar header from a stat (numeric owners only, as docker writes them); None for a socket."""
    kind = _KINDS.get(stat.S_IFMT(st.st_mode))
    if kind is None:
        return None
    ti = tarfile.TarInfo(arcname)
    ti.type, ti.mode, ti.uid, ti.gid = kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
    ti.mtime, ti.linkname = int(st.st_mtime), linkname
    ti.size = st.st_size if kind == tarfile.REGTYPE else 0
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return ti


def add_entry(tar, parent: int, name: str, arcname: str):
    """Add parent/name (not what is below it) to tar; returns (an fd of it if it is a directory,
    else None; its stat, or None if it vanished). The caller closes the fd."""
    fd, st = beneath.open_entry(parent, name)
    if st is None:
        return None, None
    try:
        link = ""
        if stat.S_ISLNK(st.st_mode):
            try:
                link = os.readlink(name, dir_fd=parent)
            except OSError:
                return None, None
        ti = info(st, arcname, link)
        if ti is None:  # a socket: tar has no such kind
            return None, st
        key = (st.st_dev, st.st_ino)
        if ti.isreg() and st.st_nlink > 1 and key in tar.inodes:  # a hard link to a file already in
            ti.type, ti.linkname, ti.size = tarfile.LNKTYPE, tar.inodes[key], 0
            tar.addfile(ti)
        elif ti.isreg():
            tar.inodes[key] = arcname
            tar.addfile(ti, _Exactly(fd, ti.size))
        else:
            tar.addfile(ti)
        if ti.isdir():
            fd, opened = None, fd  # handed to the caller
            return opened, st
        return None, st
    finally:
        if fd is not None:
            os.close(fd)


def add_tree(tar, parent: int, name: str, arcname: str) -> None:
    """Add parent/name and, for a directory, everything below it (sorted, as docker writes them)."""
    fd, _ = add_entry(tar, parent, name, arcname)
    if fd is not None:
        try:
            add_children(tar, fd, arcname)
        finally:
            os.close(fd)


def add_children(tar, dirfd: int, arcdir: str) -> None:
    for child in sorted(os.listdir(dirfd)):
        add_tree(tar, dirfd, child, f"{arcdir}/{child}" if arcdir else child)


class _Exactly:
    """A file's first n bytes: what it held when its header was written (grown: cut; shrunk while
    read: padded with zeros), so a file that changes under the copy never breaks the stream."""

    def __init__(self, fd: int, n: int):
        self.fd, self.left = fd, n

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = b""
        while len(data) < n:
            chunk = os.read(self.fd, n - len(data))
            if not chunk:
                data += bytes(n - len(data))
                break
            data += chunk
        self.left -= n
        return data


# -- extracting -----------------------------------------------------------------------------------

class Extractor:
    """Writes tar members below the directory root (an fd); error is the refusal's kind, where
    names the destination in its message; replace_dirs: a later member may replace a directory
    with a file (a layer may), else that is refused."""

    def __init__(self, root: int, error=InvalidArgument, replace_dirs: bool = False, where: str = "the destination"):
        self.root, self.error, self.replace_dirs, self.where = root, error, replace_dirs, where
        self.dirs, self.notes = [], []

    def parent(self, rel: str, create: bool = True) -> tuple:
        try:
            return beneath.parent_of(self.root, rel, create)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
                raise self.error(f"refusing {rel!r}: a directory on its way is a symlink or not a directory "
                                 "(a link is never followed)") from None
            raise

    def extract(self, tar, m: tarfile.TarInfo, rel: str) -> None:
        """Write member m at rel (a clean relative path; '' is the root itself, whose attributes stay)."""
        if not rel:
            return
        parent, name = self.parent(rel)
        try:
            self._write(tar, m, rel, parent, name)
        finally:
            os.close(parent)

    def _write(self, tar, m, rel, parent, name) -> None:
        mtime = int(m.mtime * 1e9)
        old = beneath.lstat(parent, name)
        if m.isdir():
            if old is not None and not stat.S_ISDIR(old.st_mode):
                beneath.remove(parent, name)
            beneath.make_dir(parent, name, 0o700)
            fd = self._open(parent, name, beneath.DIR, rel)
            try:
                beneath.set_attrs(fd, m.uid, m.gid, m.mode)
            finally:
                os.close(fd)
            self.dirs.append((rel, mtime))
            return
        if old is not None and stat.S_ISDIR(old.st_mode) and not self.replace_dirs:
            raise self.error(f"cannot overwrite directory {rel!r} with a non-directory")
        if m.ischr() or m.isblk():
            self.notes.append(f"skipped device node {rel}")
            return
        if not (m.isreg() or m.issym() or m.islnk() or m.isfifo()):
            self.notes.append(f"skipped {rel}: unsupported tar entry type {m.type!r}")
            return
        beneath.remove(parent, name)
        if m.isreg():
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=parent)
            try:
                src = tar.extractfile(m)
                while chunk := src.read(1 << 20):
                    os.write(fd, chunk)
                _set_xattrs(fd, m)
                beneath.set_attrs(fd, m.uid, m.gid, m.mode, mtime)
            finally:
                os.close(fd)
        elif m.issym():
            os.symlink(m.linkname, name, dir_fd=parent)
            beneath.set_link_attrs(parent, name, m.uid, m.gid, mtime)
        elif m.islnk():
            self._hardlink(m, rel, parent, name)
        else:  # a fifo, opened without blocking to set what its mode and owner are
            os.mkfifo(name, 0o600, dir_fd=parent)
            fd = self._open(parent, name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, rel)
            try:
                beneath.set_attrs(fd, m.uid, m.gid, m.mode, mtime)
            finally:
                os.close(fd)

    def _open(self, parent: int, name: str, flags: int, rel: str) -> int:
        try:
            return os.open(name, flags, dir_fd=parent)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO):
                raise self.error(f"refusing {rel!r}: it was replaced while being written") from None
            raise

    def _hardlink(self, m, rel: str, parent: int, name: str) -> None:
        target = clean_name(m.linkname, self.error, self.where)
        if not target:
            raise self.error(f"refusing hard link {rel!r} to {m.linkname!r}: it names the destination itself")
        src_parent, src_name = self.parent(target, create=False)
        try:
            os.link(src_name, name, src_dir_fd=src_parent, dst_dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            raise self.error(f"refusing hard link {rel!r} to {m.linkname!r}: no such entry in {self.where}") from None
        finally:
            os.close(src_parent)

    def finish(self) -> None:
        """Directories' times, after their contents (which change them), reached again safely."""
        for rel, mtime in reversed(self.dirs):
            try:
                fd = beneath.open_at(self.root, rel, beneath.DIR)
            except OSError:
                continue  # replaced by a later entry
            try:
                os.utime(fd, ns=(mtime, mtime))
            finally:
                os.close(fd)
        self.dirs = []


def _set_xattrs(fd: int, m: tarfile.TarInfo) -> None:
    """PAX SCHILY.xattr.* records (file capabilities live there: security.capability)."""
    for key, value in (m.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr."):
            try:
                os.setxattr(fd, key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape"))
            except OSError:
                pass
