"""Mount primitives: OCI mount options -> mount(2) flags, safe paths inside a rootfs, bind + remount.

The container side (runtime/container/rootfs.py) decides *what* to mount; this module knows *how*.
"""
import os
import stat

from runtime.linux import libc
from runtime.linux.libc import (MS_BIND, MS_DIRSYNC, MS_MANDLOCK, MS_NOATIME, MS_NODEV, MS_NODIRATIME,
                                MS_NOEXEC, MS_NOSUID, MS_NOSYMFOLLOW, MS_PRIVATE, MS_RDONLY, MS_REC,
                                MS_RELATIME, MS_REMOUNT, MS_SHARED, MS_SLAVE, MS_STRICTATIME,
                                MS_SYNCHRONOUS, MS_UNBINDABLE, MS_LAZYTIME)

# option -> (flags to set, clear instead of set)
_FLAGS = {
    "ro": (MS_RDONLY, False), "rw": (MS_RDONLY, True),
    "nosuid": (MS_NOSUID, False), "suid": (MS_NOSUID, True),
    "nodev": (MS_NODEV, False), "dev": (MS_NODEV, True),
    "noexec": (MS_NOEXEC, False), "exec": (MS_NOEXEC, True),
    "sync": (MS_SYNCHRONOUS, False), "async": (MS_SYNCHRONOUS, True),
    "dirsync": (MS_DIRSYNC, False), "remount": (MS_REMOUNT, False),
    "mand": (MS_MANDLOCK, False), "nomand": (MS_MANDLOCK, True),
    "atime": (MS_NOATIME, True), "noatime": (MS_NOATIME, False),
    "diratime": (MS_NODIRATIME, True), "nodiratime": (MS_NODIRATIME, False),
    "relatime": (MS_RELATIME, False), "norelatime": (MS_RELATIME, True),
    "strictatime": (MS_STRICTATIME, False), "nostrictatime": (MS_STRICTATIME, True),
    "lazytime": (MS_LAZYTIME, False), "nolazytime": (MS_LAZYTIME, True),
    "symfollow": (MS_NOSYMFOLLOW, True), "nosymfollow": (MS_NOSYMFOLLOW, False),
    "bind": (MS_BIND, False), "rbind": (MS_BIND | MS_REC, False),
}

PROPAGATION = {
    "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC,
}

# options runc accepts that are not mount(2) flags and not filesystem data
_IGNORED = {"defaults", "tmpcopyup", "idmap", "ridmap"}


class Options:
    """A parsed OCI mount option list."""

    def __init__(self, options: list):
        self.flags = 0
        self.propagation = []
        data = []
        for opt in options:
            if opt in _FLAGS:
                bit, clear = _FLAGS[opt]
                self.flags = self.flags & ~bit if clear else self.flags | bit
            elif opt in PROPAGATION:
                self.propagation.append(PROPAGATION[opt])
            elif opt not in _IGNORED:
                data.append(opt)  # filesystem-specific: mode=755, size=64m, newinstance ...
        self.data = ",".join(data) or None

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & MS_BIND)


# statvfs f_flag bits -> mount flags; a bind remount must repeat the flags the mount already has,
# or the kernel refuses to clear locked ones (nosuid, nodev, noexec ...)
_ST_TO_MS = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: MS_NOATIME,
             2048: MS_NODIRATIME, 4096: MS_RELATIME}


def current_flags(path: str) -> int:
    f_flag = os.statvfs(path).f_flag
    return sum(ms for st, ms in _ST_TO_MS.items() if f_flag & st)


def bind(source: str, target: str, flags: int = 0, recursive: bool = False) -> None:
    """Bind `source` on `target`, then remount to apply flags bind(2) itself ignores (ro, nosuid ...)."""
    libc.mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
    extra = flags & ~(MS_BIND | MS_REC | MS_REMOUNT)
    if extra:
        remount_bind(target, extra)


def remount_bind(target: str, flags: int) -> None:
    libc.mount(None, target, None, MS_BIND | MS_REMOUNT | current_flags(target) | flags)


def secure_join(root: str, path: str) -> str:
    """Resolve `path` as if `root` were /: symlinks are followed but can never lead outside root.

    Like Go's securejoin, which runc uses: `..` and absolute link targets are clamped to root.
    Components that do not exist yet are kept as they are.
    """
    root = os.path.abspath(root)
    parts = [p for p in path.split("/") if p]
    resolved = []  # components below root, all existing non-links (or not existing)
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > 255:
                raise OSError(40, f"too many levels of symbolic links resolving {path!r} in {root!r}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def make_mountpoint(path: str, like_file: bool) -> None:
    """Create the directory (or empty file, for binding a file) a mount will cover."""
    if like_file:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    else:
        os.makedirs(path, exist_ok=True)


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes (\\040)."""
    if "\\" not in field:
        return field
    return field.encode().decode("unicode_escape").encode("latin-1").decode(errors="surrogateescape")


def mountinfo(pid="self") -> list:
    """[(mount ID, mount point, optional fields)] of /proc/PID/mountinfo, in the kernel's order
    (a mount comes after the one it covers)."""
    out = []
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields = line.split(" ")
            sep = fields.index("-")
            out.append((int(fields[0]), _unescape(fields[4]), fields[6:sep]))
    return out


def parent_mount(path: str) -> tuple[str, list]:
    """(mount point, optional fields) of the mount that `path` lies on."""
    best, opts = "/", []
    for _, point, optional in mountinfo():
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, opts = point, optional
    return best, opts


def ids_at(target: str) -> list:
    """IDs of the mounts stacked at `target` in this mount namespace, bottom first."""
    return [mid for mid, point, _ in mountinfo() if point == target]


def detach_stacked(target: str, keep: list) -> None:
    """Lazily unmount (with everything below) what was stacked at `target` on top of the mounts
    in `keep`: the undo of a bind made there when the caller's mount namespace is shared."""
    while (ids := ids_at(target)) and ids[-1] not in keep:
        libc.umount2(target, libc.MNT_DETACH | libc.UMOUNT_NOFOLLOW)


def option_names() -> list:
    """Every mount option hull understands (for `hull-oci features`)."""
    return sorted({*_FLAGS, *PROPAGATION, "defaults"})  # idmap/tmpcopyup are accepted but not done
