"""`hull-oci exec`: start one more process in a running container.

    runtime --fork--> joiner: enters the container's cgroup, setns() into each of the init's
                      namespaces (user first, mount last), forks, reports the PID, exits
                      --fork--> the process: (pid namespace applies to children) console,
                               cwd, rlimits, capabilities/user/no_new_privs/seccomp as the init
                               does them (init.become), execve

A close-on-exec pipe carries any error from the process back to the runtime: EOF without a
message means execve happened. The joiner is not dumpable, so nothing in the container can open
its /proc entries while the runtime's interpreter runs inside the namespaces.
"""
import copy
import os
import _signal as signal  # the C module under signal: its enum wrappers cost ~3 ms of imports

from runtime import fastjson as json, trace
from runtime.container import init, spec as spec_mod
from runtime.container.state import Store, write_atomic
from runtime.errors import Conflict, ExecFailed, InvalidArgument, from_wire, to_wire
from runtime.linux import libc, namespaces, proc, seccomp


def process_from_args(config: dict, command: list, tty: bool, cwd: str | None, env: list, user: str | None,
                      additional_gids: list, caps: list, no_new_privs: bool) -> dict:
    """runc's plain form (`exec ID CMD...`): the container's own process with these changes."""
    if not command:
        raise InvalidArgument("exec: give a command, or --process FILE")
    p = copy.deepcopy(config.get("process") or {})
    p["args"] = list(command)
    p["terminal"] = tty
    if cwd:
        p["cwd"] = cwd
    p["env"] = list(p.get("env") or []) + list(env)
    if user:
        uid, _, gid = user.partition(":")
        try:
            p["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        except ValueError:
            raise InvalidArgument(f"exec: --user {user!r}: use UID[:GID] (numbers)") from None
    if additional_gids:
        p.setdefault("user", {})["additionalGids"] = [int(g) for g in additional_gids]
    if caps:
        c = p.setdefault("capabilities", {})
        keys = ["bounding", "effective", "permitted"]
        if p.get("user", {}).get("uid"):
            keys += ["inheritable", "ambient"]  # a non-root user keeps them across execve only as ambient
        for key in keys:
            c[key] = sorted(set(c.get(key, [])) | set(caps))
    if no_new_privs:
        p["noNewPrivileges"] = True
    return p


def execute(store: Store, cid: str, raw_process: dict | None, plain: dict | None = None, detach: bool = False,
            pid_file: str | None = None, console_socket: str | None = None, relay=None) -> int:
    """Run the process in the container: raw_process (an OCI process object), or runc's plain
    form (`plain`: process_from_args' keywords). Detached: return 0 once it runs. Else: its exit code.
    relay(pid, pty_master): the caller's own terminal relay (hull exec's, with detach keys) in
    place of wait_for's; it returns the wait status, or None when the user detached (then 0)."""
    c = store.get(cid)
    status = c.status()
    if status != "running":
        raise Conflict(f"cannot exec in container {cid!r}: it is {status}, not running")
    config = spec_mod.load(c.record["bundle"])
    p = spec_mod.parse_process(raw_process if raw_process is not None else process_from_args(config.raw, **plain))
    if p.terminal and not console_socket and detach:
        raise InvalidArgument("exec --tty --detach needs --console-socket to receive the pty master")
    from runtime.linux import lsm
    for note in p.notes + lsm.skipped(p):
        trace.warn(note)
    filter_ = seccomp.build(config.seccomp) if config.seccomp else None
    ours = theirs = pty_master = None
    if not detach:
        libc.set_child_subreaper()  # the process is our grandchild: adopt it to wait for it
    if p.terminal:
        from runtime.linux import tty
        if console_socket:
            theirs = tty.connect_console_socket(console_socket)
        else:
            import socket
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    joins = namespaces.of_process(c.pid)
    pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    me = os.getpid()
    joiner = os.fork()
    if joiner == 0:
        libc.die_with_parent(me)  # a killed exec leaves no joiner to enter the container later
        os.close(pid_r)
        os.close(err_r)
        _joiner(c, p, joins, filter_, theirs, pid_w, err_w)  # never returns
    os.close(pid_w)
    os.close(err_w)
    if theirs is not None:
        theirs.close()
    try:
        data = _read_all(pid_r)
        os.waitpid(joiner, 0)
        error = _read_all(err_r)
        if error or not data:
            if data and not detach:
                os.waitpid(int(data), 0)  # it is our child (we are its subreaper): reap it
            raise from_wire(json.loads(error)) if error else ExecFailed("exec: the process could not be started")
        pid = int(data)
        if pid_file:
            write_atomic(pid_file, str(pid))
        if ours is not None:
            from runtime.linux import tty
            pty_master = tty.recv_fd(ours)
        if detach:
            return 0
        from runtime.container.lifecycle import forward_signals, wait_for
        forward = forward_signals(pid)
        try:
            status = (relay or wait_for)(pid, pty_master)
            return 0 if status is None else proc.exit_code(status)
        finally:
            for s, old in forward.items():
                signal.signal(s, old)
    finally:
        os.close(pid_r)
        os.close(err_r)
        if ours is not None:
            ours.close()
        if pty_master is not None:
            os.close(pty_master)


def _read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    return data


def _joiner(c, p, joins, filter_, console_sock, pid_w, err_w) -> None:
    try:
        libc.set_dumpable(False)
        keep = {pid_w, err_w} | ({console_sock.fileno()} if console_sock is not None else set())
        init.close_fds_except(keep)
        init.preload(p)
        cgroup = c.cgroup()
        if cgroup is not None and cgroup.exists():
            cgroup.enter()
        # a container without a mount namespace of its own lives in a chroot: enter it too
        root = os.open(f"/proc/{c.pid}/root", os.O_PATH | os.O_DIRECTORY) if c.record.get("shared_mounts") else None
        namespaces.join(namespaces.open_paths(joins))  # user first, mount last
        if root is not None:
            os.fchdir(root)
            os.chroot(".")
            os.close(root)
        pid = os.fork()
        if pid == 0:
            _process(p, filter_, console_sock, err_w)  # never returns
        os.write(pid_w, str(pid).encode())
        os._exit(0)
    except BaseException as e:  # noqa: BLE001 - the runtime must hear of every failure
        _tell(err_w, e)
        os._exit(1)


def _tell(err_w: int, e: BaseException) -> None:
    """The error, with its kind, for the runtime waiting on err_w (one write: the pipe's far end
    reads it whole)."""
    os.write(err_w, json.dumps(to_wire(e)).encode())


def _process(p, filter_, console_sock, err_w) -> None:
    try:
        os.setsid()
        if p.terminal:
            init._setup_console(p, console_sock, bind=False)
        init._apply_rlimits(p.rlimits)
        env = dict(e.split("=", 1) for e in p.env)
        os.chdir(p.cwd)
        path = init.find_executable(p.args[0], env.get("PATH", init.DEFAULT_PATH))
        init._refuse_runtime_binary(path)
        init.become(p, filter_)
        trace.note(f"execve({path!r}, {p.args!r})", see="execve(2)")
        proc.reset_signals()
        os.execve(path, p.args, env)
    except BaseException as e:  # noqa: BLE001
        try:
            _tell(err_w, e)
        finally:
            os._exit(127)

