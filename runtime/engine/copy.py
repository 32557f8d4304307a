"""Files in and out of a container: `hull cp` both ways and `hull export`.

Whatever is read or written inside the container happens in a child process chrooted to the
container's root (docker's "chroot archive"): there a symlink, even one a hostile running
container swaps in meanwhile, can only resolve inside the container. The other side of the copy
is a tar stream over a pipe, unpacked with tarfile's checks (no absolute names, nothing outside
the destination, no writes through links) but the file modes kept, as docker cp keeps them.
"""
import os
import tarfile

from runtime.errors import InvalidArgument, NotFound


def _extract(tar, member, into: str) -> None:
    """Extract one member under into, refusing what would land outside it: absolute names and '..'
    are refused, a name whose parents resolve (through links) outside is refused, a link already at
    the name is replaced rather than written through, hard links must point inside, device nodes
    are skipped. (This Python predates tarfile's extraction filters.)"""
    name = member.name.lstrip("/")
    if any(part == ".." for part in name.split("/")):
        raise InvalidArgument(f"refusing {member.name!r}: it leaves the destination")
    if member.ischr() or member.isblk() or member.isfifo():
        return
    base = os.path.realpath(into)
    target = os.path.join(base, name)
    parent = os.path.realpath(os.path.dirname(target))
    if parent != base and not parent.startswith(base + "/"):
        raise InvalidArgument(f"refusing {member.name!r}: its directory is outside the destination")
    if member.islnk():
        link = os.path.realpath(os.path.join(base, member.linkname.lstrip("/")))
        if link != base and not link.startswith(base + "/") or os.path.islink(os.path.join(base, member.linkname)):
            raise InvalidArgument(f"refusing hard link {member.name!r} to {member.linkname!r}: outside the destination")
        member.linkname = os.path.relpath(link, base)
    if os.path.islink(target) or (os.path.lexists(target) and not (member.isdir() and os.path.isdir(target))):
        if os.path.isdir(target) and not os.path.islink(target):
            raise InvalidArgument(f"cannot overwrite directory {member.name!r} with a non-directory")
        os.unlink(target)
    member.name = name
    tar.extract(member, base, numeric_owner=True)


def _in_root(root: str, work, *args) -> int:
    """Run work(*args) in a child chrooted to root; returns its exit status (0: done)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chroot(root)
            os.chdir("/")
            work(*args)
            code = 0
        except BaseException as e:  # noqa: BLE001
            os.write(2, f"Error: {getattr(e, 'msg', None) or e}\n".encode())
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _pack(path: str, fd: int, flat: bool = False) -> None:
    """Tar path (resolved in our root) to fd; a trailing /. means its contents (as "." and ./NAME,
    or flat: as NAME, what export writes)."""
    contents = path.endswith("/.")
    path = os.path.normpath(path) if not contents else os.path.normpath(path[:-2])
    if not os.path.lexists(path):
        raise NotFound(f"Could not find the file {path} in container")
    with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if contents and flat:
            for name in sorted(os.listdir(path)):
                tar.add(os.path.join(path, name), arcname=name, filter=_anonymous)
        elif contents:  # the directory as "." and its entries as ./NAME
            tar.add(path, arcname=".", filter=_anonymous)
        else:
            tar.add(path, arcname=os.path.basename(path) or ".", filter=_anonymous)


def _anonymous(info):
    info.uname = info.gname = ""
    return info


def _unpack(fd: int, dest: str) -> None:
    """Unpack the tar on fd at dest, by docker cp's rules: into dest if it is a directory; as dest
    (renamed) if dest does not exist or is a file and the source is one; a directory onto a file is
    an error, and so is a missing parent."""
    with os.fdopen(fd, "rb") as src, tarfile.open(fileobj=src, mode="r|") as tar:
        members = iter(tar)
        first = next(members, None)
        if first is None:
            return
        base = first.name.split("/")[0]
        into, rename = dest, None
        if os.path.isdir(dest):
            pass
        elif os.path.lexists(dest):
            if first.isdir() and base == first.name:
                raise InvalidArgument(f"cannot copy a directory to a file: {dest}")
            into, rename = os.path.dirname(dest) or ".", os.path.basename(dest)
        else:
            if dest.endswith("/") and not first.isdir():
                raise InvalidArgument(f"no such directory: {dest}")
            into, rename = os.path.dirname(dest.rstrip("/")) or "/", os.path.basename(dest.rstrip("/"))
            if not os.path.isdir(into):
                raise InvalidArgument(f"no such directory: {into}")
        for m in _chain(first, members):
            if rename:
                m.name = rename + m.name[len(base):]
            _extract(tar, m, into)


def _chain(first, rest):
    yield first
    yield from rest


def _root_of(c) -> tuple:
    """(the container's root as a path, a function to call when done): a running container's own
    root (its volumes included), or its rootfs mounted for the copy."""
    if c.init_alive():
        return f"/proc/{c.state['Pid']}/root", lambda: None
    from runtime.engine import runner
    from runtime.image import rootfs
    with runner.image_store(c.root) as st:
        _, desc = st.lookup(c.config["ImageID"])
        merged = rootfs.mount(st, desc, c.dir, extra_lower=c.path("init") if os.path.isdir(c.path("init")) else None)
    return merged, lambda: rootfs.unmount(c.dir)


def copy_out(c, path: str, dest: str, stdout=None) -> None:
    """Container path -> host dest (or a tar on stdout when dest is '-')."""
    root, done = _root_of(c)
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            code = _in_root(root, _pack, path, w)
            os._exit(code)
        os.close(w)
        try:
            if dest == "-":
                out = stdout.fileno()
                while chunk := os.read(r, 1 << 16):
                    os.write(out, chunk)
                os.close(r)
            else:
                _unpack(r, dest)
        finally:
            _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status):
            raise NotFound(f"Could not find the file {path} in container {c.name}")
    finally:
        done()


def copy_in(c, src: str, dest: str, stdin=None) -> None:
    """Host src (or a tar on stdin when src is '-') -> container path dest."""
    if src != "-" and not os.path.lexists(src.removesuffix("/.")):
        raise NotFound(f"stat {src}: no such file or directory")
    root, done = _root_of(c)
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the packer: the host's side, as it is
            os.close(r)
            try:
                if src == "-":
                    with os.fdopen(w, "wb") as out:
                        while chunk := stdin.buffer.read(1 << 16):
                            out.write(chunk)
                else:
                    _pack(src, w)
                os._exit(0)
            except BaseException as e:  # noqa: BLE001
                os.write(2, f"Error: {e}\n".encode())
                os._exit(1)
        os.close(w)
        code = _in_root(root, _unpack, r, dest)
        os.close(r)
        os.waitpid(pid, 0)
        if code:
            raise InvalidArgument(f"copying into {c.name}:{dest} failed")
    finally:
        done()


def export(c, out_fd: int) -> None:
    """The container's filesystem, flattened, as a tar (its mounts are not in it, as docker's)."""
    from runtime.engine import runner
    from runtime.image import rootfs
    mounted_here = not os.path.ismount(c.path("merged"))
    if mounted_here:
        with runner.image_store(c.root) as st:
            _, desc = st.lookup(c.config["ImageID"])
            rootfs.mount(st, desc, c.dir, extra_lower=c.path("init") if os.path.isdir(c.path("init")) else None)
    try:
        code = _in_root(c.path("merged"), _pack, "/.", out_fd, True)
        if code:
            raise InvalidArgument(f"export of {c.name} failed")
    finally:
        if mounted_here:
            rootfs.unmount(c.dir)
