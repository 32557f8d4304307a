"""COPY, ADD and WORKDIR: files written straight into a new layer directory (overlay's upper format)
over the image's layers, with no mount and no container. The layer directory then becomes the
store's unpacked layer as it is (builder.py tars it once for the blob).

Docker's rules (buildah's results where docker's are unwritten):
  - the destination is relative to WORKDIR; symlinks on the way are followed inside the image
  - a directory source copies its contents; the destination directory is made (0755)
  - a file goes to DEST/NAME when DEST ends with / or is a directory in the image, else to DEST
  - owners become 0:0 (or --chown's), except from another stage or image and from ADD's archives
  - --chmod sets the mode of every file and directory copied (not of the destination directory)
  - directories made on the way are 0755, owned as --chown says
"""
import os
import shutil
import stat

from runtime.engine.changes import Lower
from runtime.errors import InvalidArgument


class Owner:
    """Who the copied files belong to: uid/gid, or None to keep the source's."""

    def __init__(self, uid: int | None = None, gid: int | None = None):
        self.uid, self.gid = uid, gid

    def of(self, st) -> tuple:
        return (st.st_uid if self.uid is None else self.uid, st.st_gid if self.gid is None else self.gid)


class Layer:
    """A new layer being written into path, over lower (the image's layers, top first)."""

    def __init__(self, path: str, lower: Lower):
        self.path, self.lower = path, lower
        os.makedirs(path, mode=0o755, exist_ok=True)

    def host(self, image_path: str) -> str:
        return os.path.join(self.path, image_path.strip("/"))

    def is_dir(self, image_path: str) -> bool:
        """Is image_path (symlinks followed) a directory, in this layer or below it?"""
        rel = self.resolve(image_path)
        mine = self.host(rel)
        if os.path.lexists(mine):
            return os.path.isdir(mine) and not os.path.islink(mine)
        return is_dir(self.lower, rel)

    def resolve(self, image_path: str) -> str:
        return self.lower.resolve(image_path)

    def make_dirs(self, image_path: str, owner: tuple = (0, 0), mode: int = 0o755) -> str:
        """mkdir -p in the layer: directories that exist below are carried up with their mode and
        owner (so the merged view keeps them); new ones get mode and owner. Returns the resolved
        relative path."""
        rel = self.resolve(image_path)
        cur = ""
        for part in [p for p in rel.split("/") if p]:
            cur = f"{cur}/{part}" if cur else part
            mine = self.host(cur)
            if os.path.isdir(mine) and not os.path.islink(mine):
                continue
            if os.path.lexists(mine):
                os.unlink(mine)
            below = self.lower.find(cur)
            if below is not None and os.path.isdir(below) and not os.path.islink(below):
                st = os.lstat(below)
                os.mkdir(mine)
                os.chmod(mine, stat.S_IMODE(st.st_mode))
                os.lchown(mine, st.st_uid, st.st_gid)
            else:
                os.mkdir(mine)
                os.chmod(mine, mode)
                os.lchown(mine, *owner)
        return rel

    def put(self, src: str, image_path: str, owner: Owner, mode: int | None, skip=None) -> None:
        """Copy src (a host path; a directory with everything under it) to image_path, whose parent
        exists in the layer. skip(relative path) leaves out what .dockerignore excludes."""
        dest = self.host(image_path)
        st = os.lstat(src)
        if os.path.lexists(dest) and not (stat.S_ISDIR(st.st_mode) and os.path.isdir(dest)
                                          and not os.path.islink(dest)):
            if os.path.isdir(dest) and not os.path.islink(dest):
                shutil.rmtree(dest)
            else:
                os.unlink(dest)
        _copy(src, dest, st, owner, mode, skip, "")

    def put_contents(self, src_dir: str, image_path: str, owner: Owner, mode: int | None, skip=None,
                     prefix: str = "") -> None:
        """Copy what is in the directory src_dir into image_path (made, if missing, as --chown says)."""
        rel = self.make_dirs(image_path, (owner.uid or 0, owner.gid or 0))
        for name in sorted(os.listdir(src_dir)):
            sub = f"{prefix}/{name}" if prefix else name
            if skip and skip(sub):
                continue
            self.put(os.path.join(src_dir, name), f"{rel}/{name}", owner, mode,
                     (lambda r, s=sub: skip(f"{s}/{r}")) if skip else None)


def is_dir(lower: Lower, image_path: str) -> bool:
    """Is image_path (symlinks followed) a directory in the image?"""
    below = lower.find(lower.resolve(image_path))
    return below is not None and os.path.isdir(below) and not os.path.islink(below)


def _copy(src: str, dest: str, st, owner: Owner, mode: int | None, skip, rel: str) -> None:
    uid, gid = owner.of(st)
    kind = stat.S_IFMT(st.st_mode)
    if kind == stat.S_IFDIR:
        if not os.path.isdir(dest):
            os.mkdir(dest, 0o700)
        for name in sorted(os.listdir(src)):
            sub = f"{rel}/{name}" if rel else name
            if skip and skip(sub):
                continue
            s = os.path.join(src, name)
            _copy(s, os.path.join(dest, name), os.lstat(s), owner, mode, skip, sub)
    elif kind == stat.S_IFREG:
        shutil.copyfile(src, dest, follow_symlinks=False)
    elif kind == stat.S_IFLNK:
        os.symlink(os.readlink(src), dest)
    elif kind in (stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK):
        os.mknod(dest, st.st_mode, st.st_rdev)
    else:
        return  # sockets are not copied (docker skips them too)
    os.lchown(dest, uid, gid)
    if kind != stat.S_IFLNK:
        os.chmod(dest, mode if mode is not None else stat.S_IMODE(st.st_mode))
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def destination(dest: str, workdir: str) -> str:
    """COPY's destination as an absolute image path (a trailing / kept: it means a directory)."""
    if not dest:
        raise InvalidArgument("COPY needs a destination")
    slash = dest.endswith("/") or dest.endswith("/.") or dest in (".", "..")
    path = os.path.normpath(os.path.join(workdir or "/", dest) if not dest.startswith("/") else dest)
    return path.rstrip("/") + "/" if slash else path
