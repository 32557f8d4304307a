"""The container's filesystem view, built by the init in its mount namespace.

Order (as runc does it):
  prepare():  / gets the config's propagation (rslave by default: host mounts may still flow in),
              the rootfs's parent mount turns private, the rootfs is bound on itself (pivot_root
              needs a mount point), then the config's mounts in order, /dev nodes and symlinks.
  pivot():    pivot_root into the rootfs and detach the old root: the host's tree is gone.
  finalize(): readonly paths, masked paths, propagation, read-only root.

Without a mount namespace of its own (none listed, or one joined by path) the container shares
its mounts with others, so nothing there is changed: everything is mounted on one private bind of
the rootfs, entered with chroot, and `delete` detaches that bind (runc instead remounts the
shared namespace's / as rslave and pivots its root, and leaves the mounts behind).
"""
import errno
import os
import stat

from runtime import trace
from runtime.errors import MountFailed
from runtime.linux import libc, mounts
from runtime.linux.libc import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_SLAVE

# created when the config mounts a tmpfs on /dev: (path, major, minor), all c, 0666 (runc's list)
DEFAULT_DEVICES = [("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
                   ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)]
DEV_SYMLINKS = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
                ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]
_DEV_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def prepare(spec, bundle: str, new_netns: bool, host_cgroups: str) -> None:
    """host_cgroups: /proc/self/cgroup as read before unsharing the cgroup namespace."""
    rootfs = spec.root_path
    if spec.creates("mount"):
        kind = spec.rootfs_propagation
        if kind and kind.endswith("unbindable"):
            kind = None  # an unbindable "/" could not give the rootfs bind below: finalize() makes it so
        libc.mount(None, "/", None, mounts.PROPAGATION.get(kind, MS_SLAVE | MS_REC))
        _parent_private(rootfs)
        libc.mount(rootfs, rootfs, None, MS_BIND | MS_REC)
    else:
        libc.mount(rootfs, rootfs, None, MS_BIND | MS_REC)
        libc.mount(None, rootfs, None, MS_PRIVATE | MS_REC)  # nothing below reaches the others' mounts
    for m in spec.mounts:
        try:
            _mount(rootfs, m, bundle, new_netns, host_cgroups)
        except OSError as e:
            # runc's words: what went where and why, not the syscall's arguments
            why = "not a directory" if e.errno in (errno.EEXIST, errno.ENOTDIR) else os.strerror(e.errno or 0).lower()
            raise MountFailed(f"error mounting {m.source or m.type!r} to rootfs at {m.destination!r}: {why}") from None
    dev_tmpfs = any(m.destination == "/dev" and not mounts.Options(m.options).is_bind for m in spec.mounts)
    # runc's order: device nodes first, then the ptmx and /proc/self symlinks, so creating a node
    # can never go through a link made here (a privileged config lists the host's /dev/ptmx)
    if dev_tmpfs:
        for path, major, minor in DEFAULT_DEVICES:
            _device(rootfs, path, stat.S_IFCHR, major, minor, 0o666, 0, 0)
    for d in spec.devices:
        mode = d.file_mode if d.file_mode is not None else 0o666
        _device(rootfs, d.path, _DEV_TYPES[d.type], d.major, d.minor, mode, d.uid or 0, d.gid or 0)
    if dev_tmpfs:
        _symlink(rootfs, "pts/ptmx", "/dev/ptmx", replace=True)
        for target, link in DEV_SYMLINKS:
            _symlink(rootfs, target, link)
        if os.path.exists("/proc/kcore"):
            _symlink(rootfs, "/proc/kcore", "/dev/core")


def _parent_private(rootfs: str) -> None:
    """pivot_root refuses a new root whose parent mount is shared, and a bind of the rootfs there
    would propagate back to the host: make that one mount private (runc does the same)."""
    point, optional = mounts.parent_mount(rootfs)
    if any(o.startswith("shared:") for o in optional):
        libc.mount(None, point, None, MS_PRIVATE)


def _mount(rootfs: str, m, bundle: str, new_netns: bool, host_cgroups: str) -> None:
    opts = mounts.Options(m.options)
    dest = mounts.secure_join(rootfs, m.destination)
    if m.type == "bind" or opts.is_bind:
        source = os.path.join(bundle, m.source)  # a relative source is relative to the bundle
        if not os.path.exists(source):
            raise OSError(2, f"bind mount source {source!r} for {m.destination!r}: no such file or directory")
        mounts.make_mountpoint(dest, like_file=not os.path.isdir(source))
        mounts.bind(source, dest, opts.flags, recursive=bool(opts.flags & MS_REC))
    elif m.type == "cgroup":
        mounts.make_mountpoint(dest, like_file=False)
        _mount_cgroup(dest, opts, host_cgroups)
    else:
        mounts.make_mountpoint(dest, like_file=False)
        try:
            libc.mount(m.source or m.type, dest, m.type, opts.flags, opts.data)
        except PermissionError:
            # sysfs needs a network namespace of our own; mqueue an ipc one. Bind the host's instead.
            if m.type == "sysfs" and not new_netns:
                mounts.bind("/sys", dest, opts.flags, recursive=True)
            elif m.type == "mqueue":
                mounts.bind("/dev/mqueue", dest, opts.flags)
            else:
                raise
    for flag in opts.propagation:
        libc.mount(None, dest, None, flag)


def _mount_cgroup(dest: str, opts, host_cgroups: str) -> None:
    """The container's own cgroups at dest: cgroup2 on a unified host, else one bind per v1 hierarchy."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        libc.mount("cgroup", dest, "cgroup2", opts.flags)
        return
    libc.mount("tmpfs", dest, "tmpfs", (opts.flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755")
    for line in host_cgroups.splitlines():
        _, controllers, path = line.split(":", 2)
        if not controllers:
            continue  # the hybrid host's cgroup2 tree: runc leaves it out too
        name = controllers.replace("name=", "")
        host = os.path.join("/sys/fs/cgroup", name)
        if not os.path.isdir(host):
            continue
        target = os.path.join(dest, name)
        os.makedirs(target, exist_ok=True)
        mounts.bind(host + path, target, opts.flags | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        for alias in name.split(",") if "," in name else []:
            os.symlink(name, os.path.join(dest, alias))  # cpu -> cpu,cpuacct
    if opts.flags & MS_RDONLY:
        libc.mount(None, dest, None, libc.MS_REMOUNT | mounts.current_flags(dest) | MS_RDONLY)


def _device(rootfs, path, kind, major, minor, mode, uid, gid) -> None:
    """mknod, as runc: what is already there (the image's own node, a default device listed again)
    is kept, never replaced."""
    dest = mounts.secure_join(rootfs, path)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    trace.note(f"mknod({dest!r}, {major}:{minor}, {mode:o})", see="mknod(2)")
    try:
        os.mknod(dest, kind | (mode & 0o7777), os.makedev(major, minor))
    except FileExistsError:
        return
    except PermissionError:
        # in a user namespace mknod is refused: bind the host's node instead
        mounts.make_mountpoint(dest, like_file=True)
        mounts.bind(path, dest)
        return
    os.chmod(dest, mode & 0o7777)  # mknod applies the umask
    os.chown(dest, uid, gid)


def _symlink(rootfs, target, link, replace=False) -> None:
    # the link's own name is not resolved: /dev/ptmx may be a node (or a link) to replace
    dest = os.path.join(mounts.secure_join(rootfs, os.path.dirname(link)), os.path.basename(link))
    if replace and os.path.lexists(dest) and not os.path.isdir(dest):
        os.unlink(dest)
    try:
        os.symlink(target, dest)
    except FileExistsError:
        pass


def pivot(rootfs: str) -> None:
    """pivot_root(".", "."): the old root ends up stacked on the new one, then is detached.

    This trick (from runc/lxc) needs no put_old directory inside the rootfs.
    """
    old = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    new = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    os.fchdir(new)
    libc.pivot_root(".", ".")
    os.fchdir(old)
    # make the old root a slave so that unmounting it does not propagate to the host
    libc.mount(None, ".", None, MS_SLAVE | MS_REC)
    libc.umount2(".", libc.MNT_DETACH)
    os.chdir("/")
    os.close(old)
    os.close(new)


def move_root(rootfs: str) -> None:
    """--no-pivot: for roots on ramfs/initramfs, where pivot_root is refused. Weaker: chroot can be escaped
    by a process with CAP_SYS_CHROOT, so it is opt-in only."""
    os.chdir(rootfs)
    libc.mount(rootfs, "/", None, libc.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def chroot(rootfs: str) -> None:
    """Enter the rootfs without touching the mount namespace (which is not the container's own)."""
    os.chdir(rootfs)
    os.chroot(".")
    os.chdir("/")


def bind_console(slave_path: str) -> None:
    if os.path.isdir("/dev"):
        mounts.make_mountpoint("/dev/console", like_file=True)
        mounts.bind(slave_path, "/dev/console")


def finalize(spec) -> None:
    for path in spec.readonly_paths:
        if os.path.exists(path):
            mounts.bind(path, path, MS_RDONLY, recursive=True)
    for path in spec.masked_paths:
        if os.path.isdir(path):
            libc.mount("tmpfs", path, "tmpfs", MS_RDONLY)
        elif os.path.lexists(path):
            mounts.bind("/dev/null", path)
    if spec.rootfs_propagation and spec.creates("mount"):
        libc.mount(None, "/", None, mounts.PROPAGATION[spec.rootfs_propagation])
    if spec.root_readonly:
        mounts.remount_bind("/", MS_RDONLY)
