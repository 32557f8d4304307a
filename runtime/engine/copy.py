"""Files in and out of a container: `hull cp` both ways and `hull export`.

Whatever is read or written inside the container happens in a child process chrooted to the
container's root (docker's "chroot archive"). On both sides a path is resolved once, the way its
owner sees it (the user's on the host, the container's inside it), and everything below it is
reached from that directory's fd without following links (runtime/linux/beneath.py): a directory
that a running container or another user swaps for a symlink mid-copy makes the copy fail, never
write or read outside (docker's CVE-2018-15664). The two sides talk through a tar stream over a
pipe; an entry that vanishes while it is read is left out.
"""
import json
import os
import stat
import tarfile

from runtime.clock import rfc3339

from runtime.errors import HullError, InvalidArgument, NotFound
from runtime.image import tartree
from runtime.linux import beneath


class _Missing(NotFound):
    """The source path is not there (the caller names the container in its message)."""


class _Ended(InvalidArgument):
    """The tar stream ended early: the other side failed, and its error says why."""


_KINDS = {"_Missing": _Missing, "NotFound": NotFound, "_Ended": _Ended}


def _spawn(root: str | None, work, *args, other_end: int | None = None):
    """Run work(*args) in a child, chrooted to root (None: on the host). Returns finish(): it waits
    for the child and raises what the child raised (a HullError's kind and message; an OSError as
    one line); finish(quiet=True) only waits. other_end: the far end of the pipe the child writes
    to, closed in the child: holding it, a child whose reader failed (a full disk) would wait forever."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        if other_end is not None:
            os.close(other_end)
        code = 0
        try:
            if root is not None:
                os.chroot(root)
                os.chdir("/")
            work(*args)
        except BaseException as e:  # noqa: BLE001 - all of it goes to the parent, as one line
            code = 1
            kind = "_Ended" if isinstance(e, tarfile.ReadError) else type(e).__name__
            text = e.msg if isinstance(e, HullError) else _os_message(e)
            os.write(w, f"{kind}\0{text}".encode(errors="replace"))
        os._exit(code)
    os.close(w)

    def finish(quiet: bool = False) -> None:
        with os.fdopen(r, "rb") as f:
            said = f.read().decode(errors="replace")
        os.waitpid(pid, 0)
        if said and not quiet:
            kind, _, text = said.partition("\0")
            raise _KINDS.get(kind, InvalidArgument)(text)
    return finish


def _both(consume, finish) -> None:
    """consume() the stream a child produces, then finish() it: the consumer's own error wins,
    except a stream that ended early, which the producer's error explains."""
    try:
        consume()
    except (_Ended, tarfile.ReadError):
        finish()
        raise InvalidArgument("the copy ended early") from None
    except BaseException:
        finish(quiet=True)
        raise
    finish()


def _os_message(e: BaseException) -> str:
    if isinstance(e, OSError):
        return f"{e.strerror or e}{': ' + str(e.filename) if e.filename else ''}"
    return f"{type(e).__name__}: {e}"


def _absolute(path: str) -> str:
    return path if path.startswith("/") else os.path.join(os.getcwd(), path)


def _pack(path: str, fd: int, flat: bool = False) -> None:
    """Tar path to fd, path resolved as this process sees / (a link at its end is copied as a
    link); a trailing /. means its contents (as "." and ./NAME, or flat: as NAME, what export
    writes)."""
    contents = path.endswith("/.") or path == "."
    path = _absolute(path[:-2] if path.endswith("/.") else path)
    root = os.open("/", beneath.DIR)
    try:
        parent, name = os.path.split(os.path.normpath(path))
        try:
            top = beneath.open_dir(root, parent, in_root=True)
        except (FileNotFoundError, NotADirectoryError):
            raise _Missing(path) from None
        try:
            if name and beneath.lstat(top, name) is None:
                raise _Missing(path)
            with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                if not name or contents:  # / or DIR/.
                    d = beneath.open_dir(root, path, in_root=True)
                    try:
                        if not flat:
                            tar.addfile(tartree.info(os.fstat(d), "."))
                        tartree.add_children(tar, d, "" if flat else ".")
                    finally:
                        os.close(d)
                else:
                    tartree.add_tree(tar, top, name, name)
        finally:
            os.close(top)
    finally:
        os.close(root)


def _destination(root: int, dest: str, first: tarfile.TarInfo) -> tuple:
    """(fd of the directory to extract into, the name the copy takes there or None), by docker
    cp's rules: into dest if it is a directory; as dest (renamed) if dest does not exist or is a
    file and the source is one; a directory onto a file is an error, and so is a missing parent.
    Links in dest are followed as its owner sees them (in_root); nothing is written yet."""
    try:
        return beneath.open_dir(root, dest, in_root=True), None
    except FileNotFoundError:
        exists = False
    except NotADirectoryError:
        exists = True
    source_is_dir = first.isdir() and "/" not in first.name.strip("/")
    if dest.endswith("/") and not source_is_dir:
        raise InvalidArgument(f"no such directory: {dest}")
    parent, name = os.path.split(dest.rstrip("/"))
    try:
        into = beneath.open_dir(root, parent or "/", in_root=True)
    except (FileNotFoundError, NotADirectoryError):
        raise InvalidArgument(f"no such directory: {parent or '/'}") from None
    if exists and source_is_dir and beneath.lstat(into, name) is not None:
        os.close(into)
        raise InvalidArgument(f"cannot copy a directory to a file: {dest}")
    return into, name


def _unpack(fd: int, dest: str) -> None:
    """Unpack the tar on fd at dest (see _destination), every entry written below one directory fd."""
    dest = _absolute(dest)
    root = os.open("/", beneath.DIR)
    with os.fdopen(fd, "rb") as src, tarfile.open(fileobj=src, mode="r|") as tar:
        members = iter(tar)
        first = next(members, None)
        if first is None:
            os.close(root)
            return
        try:
            into, rename = _destination(root, dest, first)
        finally:
            os.close(root)
        top = tartree.clean_name(first.name).split("/")[0]  # "": a directory's contents (".")

        def renamed(rel: str) -> str:
            if rename is None:
                return rel
            if not top:
                return f"{rename}/{rel}" if rel else rename
            return rename + rel[len(top):] if rel == top or rel.startswith(top + "/") else rel
        out = tartree.Extractor(into)
        try:
            for m in _chain(first, members):
                if m.islnk():
                    m.linkname = renamed(tartree.clean_name(m.linkname))
                out.extract(tar, m, renamed(tartree.clean_name(m.name)))
            out.finish()
        finally:
            os.close(into)


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
        finish = _spawn(root, _pack, path, w, other_end=r)  # inside the container's root
        os.close(w)

        def consume():
            if dest != "-":
                return _unpack(r, dest)  # on the host
            with os.fdopen(r, "rb") as src:
                while chunk := src.read(1 << 16):
                    stdout.buffer.write(chunk)
                stdout.buffer.flush()
        try:
            _both(consume, finish)
        except _Missing:
            raise NotFound(f"Could not find the file {path} in container {c.name}") from None
    finally:
        done()


def copy_in(c, src: str, dest: str, stdin=None) -> None:
    """Host src (or a tar on stdin when src is '-') -> container path dest."""
    root, done = _root_of(c)
    try:
        r, w = os.pipe()
        finish_pack = _spawn(None, _from_stdin if src == "-" else _pack, stdin if src == "-" else src, w, other_end=r)
        os.close(w)
        finish_unpack = _spawn(root, _unpack, r, dest)  # inside the container's root
        os.close(r)
        try:
            _both(finish_unpack, finish_pack)
        except _Missing:
            raise NotFound(f"stat {src}: no such file or directory") from None
    finally:
        done()


def stat_path(c, path: str) -> dict:
    """docker's container path stat (the X-Docker-Container-Path-Stat of the archive endpoint):
    name, size, mode (Go's os.FileMode bits), mtime, linkTarget; read inside the container's root."""
    root, done = _root_of(c)
    try:
        r, w = os.pipe()
        finish = _spawn(root, _stat, path, w, other_end=r)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            said = f.read()
        try:
            finish()
        except _Missing:
            raise NotFound(f"Could not find the file {path} in container {c.name}") from None
        return json.loads(said)
    finally:
        done()


GO_MODE = ((0o040000, 1 << 31), (0o120000, 1 << 27), (0o010000, 1 << 25), (0o140000, 1 << 24),
           (0o060000, 1 << 26), (0o020000, (1 << 26) | (1 << 21)))  # S_IFDIR... -> os.ModeDir...


def _stat(path: str, fd: int) -> None:
    """(in the container's root: nothing is imported after the chroot)"""
    path = _absolute(path)
    root = os.open("/", beneath.DIR)
    try:
        parent, name = os.path.split(os.path.normpath(path))
        try:
            top = beneath.open_dir(root, parent, in_root=True)
        except (FileNotFoundError, NotADirectoryError):
            raise _Missing(path) from None
        try:
            st = beneath.lstat(top, name) if name else os.fstat(root)
            if st is None:
                raise _Missing(path)
            link = os.readlink(name, dir_fd=top) if stat.S_ISLNK(st.st_mode) else ""
        finally:
            os.close(top)
    finally:
        os.close(root)
    mode = stat.S_IMODE(st.st_mode) & 0o777
    mode |= next((bit for kind, bit in GO_MODE if stat.S_IFMT(st.st_mode) == kind), 0)
    mode |= (1 << 23 if st.st_mode & stat.S_ISUID else 0) | (1 << 22 if st.st_mode & stat.S_ISGID else 0)
    mode |= 1 << 20 if st.st_mode & stat.S_ISVTX else 0
    with os.fdopen(fd, "w") as out:
        json.dump({"name": name or "/", "size": st.st_size, "mode": mode, "mtime": rfc3339(st.st_mtime),
                   "linkTarget": link}, out)


def _from_stdin(stdin, fd: int) -> None:
    with os.fdopen(fd, "wb") as out:
        while chunk := stdin.buffer.read(1 << 16):
            out.write(chunk)


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
        _spawn(c.path("merged"), _pack, "/.", out_fd, True)()
    finally:
        if mounted_here:
            rootfs.unmount(c.dir)
