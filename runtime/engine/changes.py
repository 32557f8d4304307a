"""What a container changed: its writable (upper) layer read against the layers below it.

overlayfs keeps a deletion as a 0/0 character device (a whiteout) and a directory that hides what
was below it with trusted.overlay.opaque=y. `diff` reports docker's A/C/D lines from that; `commit`
turns the same layer into an image layer, whiteouts as OCI's .wh.NAME entries and opaque
directories as .wh..wh..opq.
"""
import os
import stat
import tarfile

from runtime.image import tartree
from runtime.image.layer import OPAQUE, WHITEOUT
from runtime.linux import beneath

OPAQUE_XATTR = "trusted.overlay.opaque"


def _whiteout(st) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path) -> bool:
    """Is the directory (a path in a read-only layer, or an fd) opaque?"""
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=isinstance(path, int)) == b"y"
    except OSError:
        return False


class Lower:
    """The read-only layers under a container's upper one, top first: does a path exist there?"""

    def __init__(self, dirs_top_first: list):
        self.dirs = dirs_top_first

    def exists(self, rel: str) -> bool:
        """As overlayfs resolves it: the first layer that has the path (or a whiteout of it)
        decides; an opaque directory on the way hides the layers below it."""
        parts = rel.strip("/").split("/")
        for d in self.dirs:
            cur, hides_below = d, False
            for i, part in enumerate(parts):
                cur = os.path.join(cur, part)
                try:
                    st = os.lstat(cur)
                except FileNotFoundError:
                    break
                if _whiteout(st):
                    return False
                if i == len(parts) - 1:
                    return True
                if not stat.S_ISDIR(st.st_mode):
                    return False
                hides_below = hides_below or _opaque(cur)
            if hides_below:
                return False
        return False


    def find(self, rel: str) -> str | None:
        """The path of rel in the layer that provides it, or None (deleted, or never there)."""
        if not rel.strip("/"):
            return self.dirs[0] if self.dirs else None
        if not self.exists(rel):
            return None
        for d in self.dirs:
            p = os.path.join(d, rel.strip("/"))
            if os.path.lexists(p):
                return p
        return None

    def resolve(self, rel: str) -> str:
        """rel with every symlink on the way followed as inside the image (never above its root):
        where a write to rel lands (docker's FollowSymlinkInScope over the layers)."""
        todo, done, hops = rel.strip("/").split("/"), [], 0
        while todo:
            part = todo.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                done = done[:-1]
                continue
            real = self.find("/".join(done + [part]))
            if real is not None and os.path.islink(real):
                hops += 1
                if hops > 40:
                    raise OSError(40, "too many levels of symbolic links", rel)
                target = os.readlink(real)
                if target.startswith("/"):
                    done = []
                todo = target.split("/") + todo
                continue
            done.append(part)
        return "/".join(done)


def _top(upper: str):
    """An fd of the upper layer, or None if the container never had one."""
    try:
        return os.open(upper, beneath.DIR)
    except FileNotFoundError:
        return None


def diff(upper: str, lower: Lower) -> list:
    """[(kind, path)] as docker diff lists them: A added, C changed, D deleted, sorted by path.
    The upper layer is the running container's to change: it is walked by fds, never through a
    link it swaps in (runtime/linux/beneath.py)."""
    out = []

    def walk(fd: int, rel: str) -> None:
        for name in sorted(os.listdir(fd)):
            path = f"{rel.rstrip('/')}/{name}"
            child, st = beneath.open_entry(fd, name)
            if st is None:
                continue  # gone meanwhile
            try:
                if _whiteout(st):
                    out.append(("D", path))
                    continue
                existed = lower.exists(path)
                replaced = existed and child is not None and stat.S_ISDIR(st.st_mode) and _opaque(child)
                # a directory made anew over one below (opaque) is reported deleted, its contents
                # added, as docker's overlay driver and podman do
                out.append(("D" if replaced else "C" if existed else "A", path))
                if child is not None and stat.S_ISDIR(st.st_mode):
                    walk(child, path)
            finally:
                if child is not None:
                    os.close(child)
    top = _top(upper)
    if top is not None:
        try:
            walk(top, "/")
        finally:
            os.close(top)
    return sorted(out, key=lambda c: c[1])


def layer_tar(upper: str, out_path: str) -> None:
    """The upper layer as an OCI layer tar (uncompressed; hard links kept, owners numeric), read
    by fds as diff reads it."""
    with tarfile.open(out_path, "w", format=tarfile.PAX_FORMAT) as tar:
        def add(fd: int, rel: str) -> None:
            for name in sorted(os.listdir(fd)):
                arc = f"{rel}/{name}" if rel else name
                st = beneath.lstat(fd, name)
                if st is None:
                    continue
                if _whiteout(st):
                    info = tarfile.TarInfo(f"{rel}/{WHITEOUT}{name}" if rel else WHITEOUT + name)
                    info.mtime = int(st.st_mtime)
                    tar.addfile(info)
                    continue
                child, st = tartree.add_entry(tar, fd, name, arc)
                if child is None:
                    continue
                try:
                    if _opaque(child):
                        opq = tarfile.TarInfo(f"{arc}/{OPAQUE}")
                        opq.mtime = int(st.st_mtime)
                        tar.addfile(opq)
                    add(child, arc)
                finally:
                    os.close(child)
        top = _top(upper)
        if top is not None:
            try:
                add(top, "")
            finally:
                os.close(top)
