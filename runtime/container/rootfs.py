"""The container's filesystem view, built inside its new mount namespace by the init.

Order (as runc does it):
  prepare():  make / private so nothing leaks to the host, bind the rootfs on itself (pivot_root
              needs a mount point), the config's mounts in order, /dev nodes and symlinks.
  pivot():    pivot_root into the rootfs and detach the old root: the host's tree is gone.
  finalize(): readonly paths, masked paths, propagation, read-only root.
"""
import os
import stat

from runtime import trace
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
    # slave rather than private when the config wants propagation: host mounts may still flow in
    wants_propagation = spec.rootfs_propagation in ("slave", "rslave", "shared", "rshared")
    libc.mount(None, "/", None, MS_REC | (MS_SLAVE if wants_propagation else MS_PRIVATE))
    libc.mount(rootfs, rootfs, None, MS_BIND | MS_REC)
    for m in spec.mounts:
        _mount(rootfs, m, bundle, new_netns, host_cgroups)
    if any(m.destination == "/dev" and not mounts.Options(m.options).is_bind for m in spec.mounts):
        for path, major, minor in DEFAULT_DEVICES:
            _device(rootfs, path, stat.S_IFCHR, major, minor, 0o666, 0, 0)
        for target, link in DEV_SYMLINKS:
            _symlink(rootfs, target, link)
        _symlink(rootfs, "pts/ptmx", "/dev/ptmx", replace=True)
        if os.path.exists("/proc/kcore"):
            _symlink(rootfs, "/proc/kcore", "/dev/core")
    for d in spec.devices:
        mode = d.file_mode if d.file_mode is not None else 0o666
        _device(rootfs, d.path, _DEV_TYPES[d.type], d.major, d.minor, mode, d.uid or 0, d.gid or 0)


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
    dest = mounts.secure_join(rootfs, path)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.lexists(dest) and not os.path.isdir(dest):
        os.unlink(dest)
    trace.note(f"mknod({dest!r}, {major}:{minor}, {mode:o})")
    try:
        os.mknod(dest, kind | (mode & 0o7777), os.makedev(major, minor))
    except PermissionError:
        # in a user namespace mknod is refused: bind the host's node instead
        mounts.make_mountpoint(dest, like_file=True)
        mounts.bind(path, dest)
        return
    os.chmod(dest, mode & 0o7777)  # mknod applies the umask
    os.chown(dest, uid, gid)


def _symlink(rootfs, target, link, replace=False) -> None:
    dest = mounts.secure_join(rootfs, link)
    if replace and os.path.lexists(dest):
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
    if spec.rootfs_propagation:
        libc.mount(None, "/", None, mounts.PROPAGATION[spec.rootfs_propagation])
    if spec.root_readonly:
        mounts.remount_bind("/", MS_RDONLY)
