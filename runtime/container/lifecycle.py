"""The runtime side of the OCI lifecycle: create, start, kill, delete, run.

Each function is one verb of hull-oci; the container side of create lives in init.py. Engines run
start, kill and delete once or twice per container, and every module imported is paid on each
call, so what only create needs (spec parsing, cgroup setup, init) is imported inside it.
"""
import os
import _signal as signal  # the C module under signal: its enum wrappers cost ~3 ms of imports

from runtime import trace
from runtime.container import hooks
from runtime.container.state import Container, Store, now_rfc3339, validate_id, write_atomic
from runtime.errors import Conflict, ExecFailed, InvalidArgument, InvalidSpec, NotFound, from_wire
from runtime.linux import proc

ACTIVE = ("creating", "created", "running", "paused")


def create(store: Store, cid: str, bundle: str, pid_file: str | None = None, console_socket: str | None = None,
           preserve_fds: int = 0, no_pivot: bool = False, console=None, spec=None, stdio=None) -> Container:
    """Set up the container and leave its init blocked on exec.fifo; return without waiting for it.

    console: an already connected socket to send the pty master to (`run` in the foreground keeps
    the terminal itself); otherwise --console-socket names the caller's listening socket.
    stdio: (stdin, stdout, stderr) fds for the container instead of ours (the engine's pipes).
    """
    # imported here, not at the top: start, kill and delete (engines call each once per
    # container) need none of the setup machinery, and each import is paid on every call
    from runtime import cgroups
    from runtime.container import init, spec as spec_mod
    from runtime.linux import libc, lsm, userns
    bundle = os.path.abspath(bundle)
    spec = spec or spec_mod.load(bundle)
    if spec.process is None or not spec.process.args:
        raise InvalidSpec("config.json: process.args must name the program to run")
    terminal = spec.process.terminal
    if terminal and not console_socket and console is None:
        raise InvalidArgument("process.terminal is true: a --console-socket is needed to receive the pty master")
    if console_socket and not terminal:
        raise InvalidArgument("--console-socket given but process.terminal is false in config.json")
    cgroup_path = cgroups.resolve_path(spec.cgroups_path, validate_id(cid), store.root)
    if spec.uid_mappings and not userns.enabled():
        raise InvalidSpec("config.json asks for a user namespace, but /proc/sys/user/max_user_namespaces is 0")
    res = _with_default_devices(spec.resources)
    cgroup = cgroups.new(cgroup_path)
    c = store.new(cid)
    pidfd, made = None, False
    try:
        # Intent first: the record names every object create is about to make (the cgroup
        # directories not there yet, the bind on a shared rootfs) before any exists, so that
        # `delete --force` removes them whatever instant create is killed at.
        c.record = {"id": cid, "pid": 0, "status": "creating", "bundle": bundle, "rootfs": spec.root_path,
                    "created": now_rfc3339(), "owner": "", "annotations": spec.annotations,
                    "hooks": spec.raw.get("hooks") or {}, "cgroup": cgroup.planned(), "resources": res}
        shared = _shared_mounts(spec)
        if shared:
            c.record["shared_mounts"] = shared
        c.save()
        os.mkfifo(c.fifo, 0o622)
        os.chmod(c.fifo, 0o622)  # mkfifo applied the umask; the init may not be host root
        if spec.uid_mappings:
            os.chown(c.fifo, userns.host_id(spec.uid_mappings), userns.host_id(spec.gid_mappings))
        # limits go in before any process does; the setup child joins before it unshares
        cgroup.create()
        made = True
        c.record["cgroup"] = cgroup.record()
        for note in spec.resource_notes + cgroup.apply(res) + spec.process.notes + lsm.skipped(spec.process):
            trace.warn(note)
        if terminal and console is None:
            from runtime.linux import tty
            console = tty.connect_console_socket(console_socket)
        sync, theirs = init.Sync.pair()
        me = os.getpid()
        child = os.fork()
        if child == 0:
            trace.note("setup child: joins and unshares namespaces, then forks the init")
            libc.die_with_parent(me)
            sync.close()
            if stdio:
                for target, fd in enumerate(stdio):
                    os.dup2(fd, target)  # inheritable: the container's 0, 1 and 2
            init.setup_child(spec, bundle, theirs, c.fifo, console, preserve_fds, no_pivot, cgroup)
        theirs.close()
        if console is not None:
            console.close()
        msg = sync.recv()
        if msg.get("map_ids"):
            _map_ids(child, spec, sync)
            msg = sync.recv()
        os.waitpid(child, 0)
        _check(msg)
        c.record["pid"] = msg["pid"]
        c.record["init_start"] = proc.start_time(msg["pid"])
        pidfd = c.open_init()
        c.save()
        state = c.oci_state("created")  # what crun tells these hooks (runc: "creating"; the spec is loose)
        hooks.run("prestart", spec.hooks.get("prestart"), state)
        hooks.run("createRuntime", spec.hooks.get("createRuntime"), state)
        sync.send(state=state)
        _check(sync.recv())
        sync.close()
        c.record["status"] = "created"
        c.save()
        if pid_file:
            write_atomic(pid_file, str(c.pid))
        trace.note(f"created {cid}: init pid {c.pid} waits on {c.fifo}")
        return c
    except BaseException:
        _kill_and_wait(pidfd)
        if made:  # (a create() that failed took back its own directories)
            cgroup.destroy()
        _undo_shared_mounts(c.record)
        c.destroy()
        raise
    finally:
        if pidfd is not None:
            os.close(pidfd)
        c.unlock()


def _shared_mounts(spec) -> dict | None:
    """Without a mount namespace of its own, the init stacks one bind at the rootfs in a namespace
    others use (rootfs.py). Note what is mounted there before it does, so delete (or a failed
    create) takes away exactly that bind and everything under it."""
    if spec.creates("mount"):
        return None
    from runtime.linux import mounts, namespaces
    ns = spec.namespace("mount")
    path = ns.path if ns else ""
    keep = namespaces.call_in("mount", path, mounts.ids_at, spec.root_path)
    return {"target": spec.root_path, "ns": path, "keep": keep}


def _undo_shared_mounts(record: dict) -> None:
    m = record.get("shared_mounts")
    if not m:
        return
    from runtime.linux import mounts, namespaces
    try:
        namespaces.call_in("mount", m["ns"], mounts.detach_stacked, m["target"], m["keep"])
    except FileNotFoundError:
        pass  # the joined namespace is gone, and its mounts with it


def _map_ids(child: int, spec, sync) -> None:
    """The setup child unshared its user namespace and waits: write its uid/gid maps."""
    from runtime.linux import userns
    try:
        userns.write_maps(child, spec.uid_mappings, spec.gid_mappings)
    except OSError as e:
        sync.send(error=str(e))
        os.waitpid(child, 0)
        raise InvalidSpec(f"user namespace: {e.args[1] if len(e.args) > 1 else e} "
                          "(is a host range outside /etc/subuid's, or already mapped twice?)") from None
    sync.send(mapped=True)


def _with_default_devices(res: dict) -> dict:
    """The config's device rules, then the ones every container needs (see defaults.py)."""
    if not res.get("devices"):
        return res
    from runtime.container.defaults import ALLOWED_DEVICES
    return {**res, "devices": res["devices"] + ALLOWED_DEVICES}


def _check(msg: dict) -> None:
    if "error" in msg:
        raise from_wire(msg)


def _kill_and_wait(pidfd: int | None, timeout: float = 10) -> None:
    """SIGKILL, and wait until the process is past the point of no return."""
    if pidfd is None:
        return
    try:
        proc.signal_pidfd(pidfd, signal.SIGKILL)
    except ProcessLookupError:
        return
    import time
    deadline = time.monotonic() + timeout
    while not proc.wait_pidfd(pidfd, 0.01):
        if proc.exiting(pidfd) or time.monotonic() > deadline:
            return


def start(store: Store, cid: str) -> Container:
    """Open exec.fifo: the init unblocks, runs startContainer hooks, writes "0" and execs."""
    c = store.get(cid, lock=True)
    try:
        status = c.status()
        if status != "created":
            raise Conflict(f"cannot start container {cid!r}: it is {status}, not created")
        pidfd = c.open_init()
        fifo = os.open(c.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            data = _read_fifo(fifo, pidfd)
        finally:
            os.close(fifo)
        os.unlink(c.fifo)
        if data != b"0":
            _kill_and_wait(pidfd)
            os.close(pidfd)
            # the init writes "0" just before execve, and an error line if anything failed
            detail = data.lstrip(b"0").decode(errors="replace").strip()
            raise ExecFailed(detail or "container init exited before it could start the process")
        os.close(pidfd)
        hooks.run("poststart", _hooks(c, "poststart"), c.oci_state("running"), fatal=False)
        return c
    finally:
        c.unlock()


def _read_fifo(fifo: int, pidfd: int) -> bytes:
    """Read until EOF (the init exec'd: its fifo fd is close-on-exec) or until the init dies."""
    from runtime.linux import poll
    data = b""
    while True:
        ready = poll.readable([fifo, pidfd])
        if fifo in ready:
            chunk = os.read(fifo, 4096)
            if not chunk:
                return data
            data += chunk
        elif pidfd in ready:
            try:
                return data + os.read(fifo, 4096)
            except BlockingIOError:
                return data


def _hooks(c: Container, kind: str) -> list:
    """The hooks of this kind that create recorded (most containers have none)."""
    recorded = c.record.get("hooks")
    if not recorded:
        return []
    from runtime.container import spec as spec_mod
    return spec_mod.parse_hooks(recorded).get(kind, [])


def parse_signal(text: str) -> int:
    """'TERM', 'SIGTERM', 'term', '15' -> 15."""
    t = text.strip().upper()
    if t.isdigit():
        n = int(t)
        if 0 <= n < signal.NSIG:  # 0 checks that the process exists, as kill(2) and runc
            return n
    else:
        name = t if t.startswith("SIG") else "SIG" + t
        sig = getattr(signal, name, None) if name.isalnum() else None  # not SIG_DFL, SIGRTMIN+1
        if isinstance(sig, int):
            return sig
        if name.startswith("SIGRTMIN") or name.startswith("SIGRTMAX"):
            base = signal.SIGRTMIN if "MIN" in name else signal.SIGRTMAX
            off = name[8:]
            if not off:
                return int(base)
            if off[0] in "+-" and off[1:].isdigit():
                return int(base) + int(off)
    raise InvalidArgument(f"invalid signal {text!r}")


def container_pids(c: Container) -> list:
    """Host PIDs of every process of the container (its pid namespace, or just its init)."""
    ns = proc.namespace_id(c.pid, "pid")
    if ns and ns != proc.namespace_id("self", "pid"):
        return proc.pids_in_pid_namespace(ns)
    return [c.pid]


def kill(store: Store, cid: str, sig: int, all_processes: bool = False) -> None:
    """Signal the init, or with --all every process of the container. As runc: --all is fine on a
    stopped container (its init's children may outlive it in a shared pid namespace, and engines
    call it then); the init alone can only be signalled while it runs."""
    c = store.get(cid)
    status = c.status()
    cgroup = c.cgroup()
    if all_processes and cgroup is not None:
        if cgroup.exists():
            cgroup.kill_all(sig)
        return
    pidfd = c.open_init() if status in ACTIVE else None
    if pidfd is None:
        if all_processes:
            return
        raise Conflict("container not running")
    try:
        if all_processes:
            for pid in container_pids(c):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        else:
            proc.signal_pidfd(pidfd, sig)
    finally:
        os.close(pidfd)


def delete(store: Store, cid: str, force: bool = False) -> None:
    try:
        c = store.get(cid, lock=True)
    except NotFound:
        if force:
            return  # engines call delete --force after a delete; gone is fine
        raise
    try:
        status = c.status()
        if status in ("running", "paused") and not force:
            raise Conflict(f"cannot delete container {cid!r} that is not stopped: {status} (use --force)")
        cgroup = c.cgroup()
        if cgroup is not None:
            cgroup.destroy()  # kills whatever is in it (thawing a paused one), init or not, and waits
        _kill_and_wait(c.open_init())  # an init moved out of its cgroup, or a half-made create's
        _undo_shared_mounts(c.record)
        c.destroy()
    finally:
        c.unlock()
    hooks.run("poststop", _hooks(c, "poststop"), c.oci_state("stopped"), fatal=False)


def run(store: Store, cid: str, bundle: str, detach: bool = False, pid_file: str | None = None,
        console_socket: str | None = None, preserve_fds: int = 0, no_pivot: bool = False) -> int:
    """create + start; in the foreground also wait, forward signals, and delete. Returns the exit code."""
    if detach:
        create(store, cid, bundle, pid_file, console_socket, preserve_fds, no_pivot)
        start(store, cid)
        return 0
    from runtime.container import spec as spec_mod
    spec = spec_mod.load(os.path.abspath(bundle))
    # become the init's parent once the setup child exits, so we can waitpid() it
    from runtime.linux import libc
    libc.set_child_subreaper()
    ours = theirs = pty_master = c = None
    if spec.process and spec.process.terminal and not console_socket:
        import socket
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        c = create(store, cid, bundle, pid_file, console_socket, preserve_fds, no_pivot, console=theirs, spec=spec)
        if ours is not None:
            from runtime.linux import tty
            pty_master = tty.recv_fd(ours)
        forward = forward_signals(c.pid)
        try:
            start(store, cid)
            status = wait_for(c.pid, pty_master)
        finally:
            for s, old in forward.items():
                signal.signal(s, old)
        return proc.exit_code(status)
    finally:
        for sock in (ours, theirs):
            if sock is not None:
                sock.close()
        if pty_master is not None:
            os.close(pty_master)
        if c is not None:  # never delete a container of the same name that we did not create
            delete(store, cid, force=True)


def forward_signals(pid: int) -> dict:
    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    saved = {}
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
              signal.SIGWINCH):
        saved[s] = signal.signal(s, forward)
    return saved


def wait_for(pid: int, pty_master: int | None) -> int:
    """waitpid the init (it is our child through the subreaper); proxy the pty meanwhile."""
    if pty_master is not None:
        import threading
        from runtime.linux import tty
        r, w = os.pipe()
        t = threading.Thread(target=tty.proxy, args=(pty_master, r), daemon=True)
        t.start()
        _, status = os.waitpid(pid, 0)
        os.write(w, b"x")
        t.join(timeout=2)
        os.close(r)
        os.close(w)
        return status
    _, status = os.waitpid(pid, 0)
    return status
