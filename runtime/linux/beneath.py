"""Trees that a container or another user can change, reached without following their links.

Checking a path and then using it by name is a race: between the two, whoever can write to a
directory on the way can swap it for a symlink, and root then writes (or reads) wherever the link
points (docker's CVE-2018-15664). So every walk of such a tree starts from a directory fd and goes
one component at a time without following a symlink: openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)
where the kernel has it (5.6+), else O_NOFOLLOW opens component by component. What is then done to
an entry is done through its fd (fchown, fchmod, futimens) or with *at calls that do not follow the
last component, so a swap between two steps fails (ELOOP, ENOTDIR) instead of escaping.

`hull cp` both ways, export, commit, diff, the copy-up of volumes, the init layer and build
contexts go through here (and image layers, through runtime/image/tartree.py).
"""
import errno
import os
import stat

from runtime.linux import libc

DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# no symlink anywhere, no '..' above the start, no /proc magic links
_STRICT = libc.RESOLVE_BENEATH | libc.RESOLVE_NO_SYMLINKS | libc.RESOLVE_NO_MAGICLINKS
# symlinks followed as if the start were / (a container's view of its own root)
_IN_ROOT = libc.RESOLVE_IN_ROOT | libc.RESOLVE_NO_MAGICLINKS
_MAX_LINKS = 40


def parts(path: str) -> list:
    return [p for p in path.split("/") if p not in ("", ".")]


def open_at(dirfd: int, path: str, flags: int = os.O_RDONLY, mode: int = 0o600, in_root: bool = False) -> int:
    """Open path below dirfd. Strict (the default): a symlink or '..' anywhere in path fails (ELOOP,
    EXDEV). in_root: symlinks and '..' are followed but never above dirfd, as the container that
    owns the tree would see them (docker's FollowSymlinkInScope). Magic links never."""
    flags |= os.O_CLOEXEC
    fd = libc.openat2(dirfd, path or ".", flags, mode if flags & os.O_CREAT else 0, _IN_ROOT if in_root else _STRICT)
    if fd is not None:
        return fd
    return _walk_in_root(dirfd, path, flags, mode) if in_root else _walk(dirfd, path, flags, mode)


def _walk(dirfd: int, path: str, flags: int, mode: int) -> int:
    """open_at without openat2: each component opened with O_NOFOLLOW from the one before."""
    names = parts(path)
    if ".." in names:
        raise OSError(errno.EXDEV, "'..' leaves the directory", path)
    fd = os.dup(dirfd)
    try:
        for name in names[:-1]:
            nxt = _open_dir_nofollow(fd, name)
            os.close(fd)
            fd = nxt
        return os.open(names[-1] if names else ".", flags | os.O_NOFOLLOW, mode, dir_fd=fd)
    finally:
        os.close(fd)


def _open_dir_nofollow(parent: int, name: str) -> int:
    """A directory on the way; a symlink there is ELOOP, as openat2 says it."""
    try:
        return os.open(name, DIR, dir_fd=parent)
    except NotADirectoryError:
        if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name) from None
        raise


def _walk_in_root(root: int, path: str, flags: int, mode: int) -> int:
    """open_at(in_root) without openat2: links read with readlinkat and resolved from root."""
    todo, stack, hops = parts(path), [], 0  # stack: fds of the directories below root, in order
    try:
        while True:
            cur = stack[-1] if stack else root
            if not todo:
                return os.open(".", flags, mode, dir_fd=cur)
            name = todo.pop(0)
            if name == "..":
                if stack:
                    os.close(stack.pop())
                continue
            try:
                target = os.readlink(name, dir_fd=cur)
            except OSError as e:
                if e.errno not in (errno.EINVAL, errno.ENOENT):
                    raise
                target = None  # not a link (or not there: the open below says so)
            if target is not None:
                hops += 1
                if hops > _MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                if target.startswith("/"):
                    while stack:
                        os.close(stack.pop())
                todo = parts(target) + todo
                continue
            if not todo:
                return os.open(name, flags | os.O_NOFOLLOW, mode, dir_fd=cur)
            stack.append(os.open(name, DIR, dir_fd=cur))
    finally:
        for fd in stack:
            os.close(fd)


def open_dir(dirfd: int, path: str, in_root: bool = False) -> int:
    return open_at(dirfd, path, DIR & ~os.O_NOFOLLOW if in_root else DIR, in_root=in_root)


def parent_of(dirfd: int, path: str, create: bool = False) -> tuple:
    """(fd of path's parent directory, path's last component), never through a link; with create,
    missing directories on the way are made (0755)."""
    names = parts(path)
    if not names or ".." in names:
        raise OSError(errno.EXDEV, "not a path below the directory", path)
    if not create:
        return open_at(dirfd, "/".join(names[:-1]), DIR), names[-1]
    fd = os.dup(dirfd)
    try:
        for name in names[:-1]:
            try:
                nxt = os.open(name, DIR, dir_fd=fd)
            except FileNotFoundError:
                make_dir(fd, name, 0o755)
                nxt = os.open(name, DIR, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return fd, names[-1]
    except BaseException:
        os.close(fd)
        raise


def make_dir(parent: int, name: str, mode: int) -> None:
    """mkdirat with exactly mode, whatever the umask (an existing directory is fine)."""
    try:
        os.mkdir(name, 0o700, dir_fd=parent)
    except FileExistsError:
        return
    fd = os.open(name, DIR, dir_fd=parent)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def lstat(parent: int, name: str):
    """The entry's lstat, or None if it is not there."""
    try:
        return os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return None


def remove(parent: int, name: str) -> None:
    """Remove whatever is at name, a directory with all it holds; never through a link."""
    st = lstat(parent, name)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        fd = os.open(name, DIR, dir_fd=parent)
        try:
            for child in os.listdir(fd):
                remove(fd, child)
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=parent)
    else:
        os.unlink(name, dir_fd=parent)


def open_entry(parent: int, name: str) -> tuple:
    """(fd or None, stat) of the entry name in parent, opened without following it: directories and
    regular files get an fd (and the stat of what was opened, so a swap after the lstat is seen);
    links, fifos, devices and sockets only their lstat. (None, None) if it vanished meanwhile."""
    st = lstat(parent, name)
    if st is None or not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        return None, st
    flags = DIR if stat.S_ISDIR(st.st_mode) else os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=parent)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            return None, None  # gone, or swapped for something else: as if it had vanished
        raise
    now = os.fstat(fd)
    if stat.S_IFMT(now.st_mode) != stat.S_IFMT(st.st_mode):
        os.close(fd)
        return None, None
    return fd, now


def set_attrs(fd: int, uid: int, gid: int, mode: int, mtime_ns: int | None = None) -> None:
    """Owner, then mode (chown clears set-id bits), then times, all through the fd."""
    os.fchown(fd, uid, gid)
    os.fchmod(fd, stat.S_IMODE(mode))
    if mtime_ns is not None:
        os.utime(fd, ns=(mtime_ns, mtime_ns))


def set_link_attrs(parent: int, name: str, uid: int, gid: int, mtime_ns: int | None = None) -> None:
    """A symlink's owner and times (its mode means nothing), without following it."""
    os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
    if mtime_ns is not None:
        os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=parent, follow_symlinks=False)


def copy_tree(src: int, dst: int) -> None:
    """Copy what the directory src holds into the directory dst: directories, regular files and
    links, owners, modes and times kept; other kinds skipped; entries that vanish meanwhile too."""
    for name in sorted(os.listdir(src)):
        fd, st = open_entry(src, name)
        if st is None:
            continue
        old = lstat(dst, name)  # in an empty destination only if someone else put it there
        if old is not None and not (stat.S_ISDIR(old.st_mode) and stat.S_ISDIR(st.st_mode)):
            remove(dst, name)
        try:
            if stat.S_ISDIR(st.st_mode):
                make_dir(dst, name, 0o700)
                out = os.open(name, DIR, dir_fd=dst)
                try:
                    copy_tree(fd, out)
                    set_attrs(out, st.st_uid, st.st_gid, st.st_mode, st.st_mtime_ns)
                finally:
                    os.close(out)
            elif stat.S_ISREG(st.st_mode):
                out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                              dir_fd=dst)
                try:
                    copy_data(fd, out)
                    set_attrs(out, st.st_uid, st.st_gid, st.st_mode, st.st_mtime_ns)
                finally:
                    os.close(out)
            elif stat.S_ISLNK(st.st_mode):
                try:
                    target = os.readlink(name, dir_fd=src)
                except (FileNotFoundError, OSError):
                    continue
                os.symlink(target, name, dir_fd=dst)
                set_link_attrs(dst, name, st.st_uid, st.st_gid, st.st_mtime_ns)
        finally:
            if fd is not None:
                os.close(fd)


def copy_data(src: int, dst: int) -> None:
    while True:
        try:
            n = os.copy_file_range(src, dst, 1 << 30)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            while chunk := os.read(src, 1 << 20):
                os.write(dst, chunk)
            return
        if n == 0:
            return
