"""What a container changed: its writable (upper) layer read against the layers below it.

overlayfs keeps a deletion as a 0/0 character device (a whiteout) and a directory that hides what
was below it with trusted.overlay.opaque=y. `diff` reports docker's A/C/D lines from that; `commit`
turns the same layer into an image layer, whiteouts as OCI's .wh.NAME entries and opaque
directories as .wh..wh..opq.
"""
import os
import stat
import tarfile

OPAQUE_XATTR = "trusted.overlay.opaque"


def _whiteout(st) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
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


def diff(upper: str, lower: Lower) -> list:
    """[(kind, path)] as docker diff lists them: A added, C changed, D deleted, sorted by path."""
    out = []

    def walk(rel: str) -> None:
        d = os.path.join(upper, rel.lstrip("/"))
        for name in sorted(os.listdir(d)):
            path = f"{rel.rstrip('/')}/{name}"
            full = os.path.join(d, name)
            st = os.lstat(full)
            if _whiteout(st):
                out.append(("D", path))
                continue
            existed = lower.exists(path)
            replaced = existed and stat.S_ISDIR(st.st_mode) and _opaque(full)
            # a directory made anew over one below (opaque) is reported deleted, its contents
            # added, as docker's overlay driver and podman do
            out.append(("D" if replaced else "C" if existed else "A", path))
            if stat.S_ISDIR(st.st_mode):
                walk(path)
    if os.path.isdir(upper):
        walk("/")
    return sorted(out, key=lambda c: c[1])


def layer_tar(upper: str, out_path: str) -> None:
    """The upper layer as an OCI layer tar (uncompressed; hard links kept, owners numeric)."""
    with tarfile.open(out_path, "w", format=tarfile.PAX_FORMAT) as tar:
        def add(rel: str) -> None:
            d = os.path.join(upper, rel)
            for name in sorted(os.listdir(d)):
                arc = os.path.join(rel, name)
                full = os.path.join(d, name)
                st = os.lstat(full)
                if _whiteout(st):
                    info = tarfile.TarInfo(os.path.join(rel, ".wh." + name))
                    info.mtime = int(st.st_mtime)
                    tar.addfile(info)
                    continue
                info = tar.gettarinfo(full, arcname=arc)
                info.uname = info.gname = ""
                if info.isreg():
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
                if stat.S_ISDIR(st.st_mode):
                    if _opaque(full):
                        opq = tarfile.TarInfo(os.path.join(arc, ".wh..wh..opq"))
                        opq.mtime = int(st.st_mtime)
                        tar.addfile(opq)
                    add(arc)
        if os.path.isdir(upper):
            add("")
