"""The container side of `create`: everything from fork() to execve().

Two processes, because a new PID namespace only applies to children of the caller:

  runtime (create) --fork--> setup child: joins the cgroup and `path` namespaces; unshares a new
                                           user namespace first and waits for the runtime to
                                           write its ID maps; unshares the other new ones, forks
                                           the init, reports its PID, exits
                             --fork--> init (pid 1 in the new pid namespace):
                                 waits for "go" (createRuntime hooks ran), builds the rootfs,
                                 createContainer hooks, pivot_root, hostname, console, rlimits,
                                 finds the executable, becomes the process (labels, caps, user,
                                 seccomp), reports "ready", then blocks opening exec.fifo until
                                 `start` opens its other end, runs startContainer hooks, execs.

Messages to and from the runtime are JSON lines over two pipes (see Sync). Anything that
fails before "ready" is sent back as {"error": ...} and `create` fails cleanly; after "ready" the
error is written into the fifo for `start` to report.
"""
import os
import resource

from runtime import fastjson as json  # json without its imports (see fastjson)
from runtime import trace
from runtime.container import hooks, rootfs
from runtime.container.state import INIT_NAME
from runtime.errors import CommandCannotRun, CommandNotFound, ExecFailed, MountFailed, to_wire
from runtime.linux import caps, libc, lsm, namespaces, proc, seccomp, userns

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Sync:
    """JSON lines over a pair of pipes; EOF (the peer died) reads as {"error": ...}.

    Pipes rather than a socketpair: importing socket costs ~2 ms of start-up.
    """

    def __init__(self, rfd: int, wfd: int):
        self.rfd, self.wfd, self.buf = rfd, wfd, b""

    @classmethod
    def pair(cls) -> tuple["Sync", "Sync"]:
        """(runtime end, container end), all four fds close-on-exec."""
        down_r, down_w = os.pipe2(os.O_CLOEXEC)
        up_r, up_w = os.pipe2(os.O_CLOEXEC)
        return cls(up_r, down_w), cls(down_r, up_w)

    def fds(self) -> tuple[int, int]:
        return self.rfd, self.wfd

    def send(self, **msg) -> None:
        os.write(self.wfd, json.dumps(msg).encode() + b"\n")

    def recv(self) -> dict:
        while b"\n" not in self.buf:
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                return {"error": "container init exited during setup"}
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


def close_fds_except(keep) -> None:
    """Close every fd from 3 up that is not in `keep` (close_range under the hood)."""
    lo = 3
    for fd in sorted(k for k in keep if k >= 3):
        if fd > lo:
            os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 1 << 20)


def setup_child(spec, bundle, sync, fifo_path, console_sock, preserve_fds, no_pivot, cgroup) -> None:
    """The short-lived middle process. Never returns."""
    try:
        keep = {*sync.fds(), *range(3, 3 + preserve_fds)}
        if console_sock is not None:
            keep.add(console_sock.fileno())
        if trace.enabled:
            from runtime import tracing
            keep |= tracing.keep()  # the init narrates up to execve, which closes it
        close_fds_except(keep)
        # fds the container must not inherit: open close-on-exec
        fifo_fd = os.open(fifo_path, os.O_PATH | os.O_CLOEXEC)
        # into the container's cgroup first: the init and all it forks are born there, and a
        # new cgroup namespace gets it as its root
        cgroup.enter()
        with open("/proc/self/cgroup") as f:
            host_cgroups = f.read()  # the init's cgroups, named as the host sees them
        joins = namespaces.open_paths(spec.namespaces)
        namespaces.join(joins)
        flags = namespaces.new_flags(spec.namespaces)
        if flags & libc.CLONE_NEWUSER:
            _enter_user_namespace(spec, sync)
            flags &= ~libc.CLONE_NEWUSER
        libc.unshare(flags)  # owned by the new user namespace, if there is one
        pid = os.fork()
        if pid == 0:
            if trace.enabled:
                from runtime import tracing
                tracing.in_new_pid_namespace()
                trace.note("init: pid 1 of the new pid namespace", see="pid_namespaces(7)")
            _init(spec, bundle, sync, fifo_fd, console_sock, no_pivot, host_cgroups)  # never returns
        sync.send(pid=pid)
        os._exit(0)
    except BaseException as e:  # noqa: BLE001 - every failure must reach the runtime
        _report(sync, e)
        os._exit(1)


def _enter_user_namespace(spec, sync: Sync) -> None:
    """Unshare the user namespace alone, wait while the runtime writes our ID maps, then become
    its root (when 0 is mapped), so what we create next is owned by mapped IDs."""
    libc.unshare(libc.CLONE_NEWUSER)
    sync.send(map_ids=True)
    if "error" in sync.recv():
        os._exit(1)
    if userns.host_id(spec.gid_mappings) != -1:
        os.setresgid(0, 0, 0)
        os.setgroups([])
    if userns.host_id(spec.uid_mappings) != -1:
        os.setresuid(0, 0, 0)
    libc.set_dumpable(True)  # changing uid made us non-dumpable: /proc/self would be the host root's


def _report(sync: Sync, e: BaseException) -> None:
    try:
        sync.send(**to_wire(e))
    except OSError:
        pass


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror and not e.filename:
        return str(e.args[1]) if len(e.args) > 1 else str(e)
    return str(e) or type(e).__name__


def _init(spec, bundle, sync, fifo_fd, console_sock, no_pivot, host_cgroups) -> None:
    """pid 1 of the container. Never returns: execs the user's process or exits."""
    ready = False
    try:
        os.setsid()
        libc.set_name(INIT_NAME)  # `state` tells a waiting init from the container's process by it
        if spec.namespace("user") is None:
            # (in a user namespace a non-dumpable init could not open its own /proc/self/fd,
            # which the wait on exec.fifo needs; runc makes the same exception)
            libc.set_dumpable(False)
        msg = sync.recv()  # "go": the runtime ran prestart/createRuntime hooks
        if "error" in msg:
            os._exit(1)
        state = msg["state"]
        preload(spec.process, seccomp_filter=bool(spec.seccomp), hooks=bool(spec.hooks.get("startContainer")))
        os.umask(0o022)
        new_netns = any(ns.type == "network" and not ns.path for ns in spec.namespaces)
        rootfs.prepare(spec, bundle, new_netns, host_cgroups)
        hooks.run("createContainer", spec.hooks.get("createContainer"), state)
        if not spec.creates("mount"):
            rootfs.chroot(spec.root_path)  # pivot_root or MS_MOVE would change a shared namespace's root
        else:
            (rootfs.move_root if no_pivot else rootfs.pivot)(spec.root_path)
        if spec.hostname:
            libc.sethostname(spec.hostname)
        if spec.domainname:
            libc.setdomainname(spec.domainname)
        p = spec.process
        try:
            os.makedirs(p.cwd, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise MountFailed(f"the working directory {p.cwd!r} is not a directory") from None
        if p.terminal:
            _setup_console(p, console_sock)
        _write_sysctls(spec.sysctl)
        rootfs.finalize(spec)
        _apply_rlimits(p.rlimits)
        if p.oom_score_adj is not None:
            _set_oom_score_adj(p.oom_score_adj)
        filter_ = seccomp.build(spec.seccomp) if spec.seccomp else None
        env = dict(e.split("=", 1) for e in p.env)
        os.chdir(p.cwd)
        path = find_executable(p.args[0], env.get("PATH", DEFAULT_PATH))
        _refuse_runtime_binary(path)
        # As runc: become the process now, so `start` only releases an exec (and a refused user,
        # capability or filter fails create). The fifo stays openable: a process may always open
        # its own /proc/self/fd, and create made the fifo writable by the container's user.
        become(p, filter_)
        sync.send(ready=True)
        sync.close()
        ready = True
        # Blocks until `start` opens the fifo for reading. Our own /proc shows the fd we kept.
        fifo = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        os.close(fifo_fd)
        try:
            state["status"] = "created"
            hooks.run("startContainer", spec.hooks.get("startContainer"), state)
            os.write(fifo, b"0")
            trace.note(f"execve({path!r}, {p.args!r})", see="execve(2)")
            proc.reset_signals()
            os.execve(path, p.args, env)
        except BaseException as e:  # noqa: BLE001
            os.write(fifo, f"\n{_describe(e)}".encode())
            os._exit(1)
    except BaseException as e:  # noqa: BLE001
        if not ready:
            _report(sync, e)
        else:
            os.write(2, f"hull-oci init: {_describe(e)}\n".encode())
        os._exit(1)


def become(p, filter_) -> None:
    """Turn into the container's process, in runc's order: labels, capabilities around the
    uid/gid switch, no_new_privs, and seccomp last (or before dropping CAP_SYS_ADMIN when
    no_new_privs is off, since loading a filter then needs it). Used by the init and by exec."""
    if filter_ is not None and not p.no_new_privileges:
        seccomp.load(filter_)
    lsm.set_exec_labels(p)
    if p.capabilities is not None:
        caps.before_user_switch(p.capabilities)
    _switch_user(p.user)
    if p.capabilities is not None:
        caps.after_user_switch(p.capabilities)
    if p.no_new_privileges:
        caps.set_no_new_privs()
        if filter_ is not None:
            seccomp.load(filter_)  # the runtime's own syscalls before this are not filtered


def preload(p, seccomp_filter: bool = False, hooks: bool = False) -> None:
    """Import now what is needed inside the container's mounts (after pivot_root, or setns for
    exec): from then on imports and dlopen() would search the container's filesystem."""
    if p.terminal:
        import runtime.linux.tty  # noqa: F401
    if hooks:
        import subprocess  # noqa: F401
    if p.capabilities is not None or p.no_new_privileges:
        import _prctl  # noqa: F401  (python-prctl's C extension)
    if seccomp_filter:
        seccomp._libseccomp()  # libseccomp.so.2


def _setup_console(p, console_sock, bind: bool = True) -> None:
    """A pty from the container's devpts: the slave becomes our stdio and controlling terminal,
    the master goes to the console socket. The init also binds it at /dev/console."""
    from runtime.linux import tty
    master, slave, name = tty.open_pty()
    if p.console_size:
        tty.set_winsize(slave, *p.console_size)
    if bind:
        rootfs.bind_console(name)
    tty.send_fd(console_sock, master, name)
    os.close(master)
    console_sock.close()
    tty.make_controlling(slave)
    if slave > 2:
        os.close(slave)


def _write_sysctls(sysctl: dict) -> None:
    """Only namespaced ones reach here (spec.py refuses the rest); /proc is the container's."""
    for key, value in sysctl.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise OSError(e.errno, f"sysctl {key}={value}: {e.strerror}") from None


def _set_oom_score_adj(value: int) -> None:
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as e:
        with open("/proc/self/oom_score_adj") as f:
            current = f.read().strip()
        raise OSError(e.errno, f"process.oomScoreAdj {value}: not permitted (below the current {current} "
                               f"needs CAP_SYS_RESOURCE, which this host does not give)") from None


def _apply_rlimits(rlimits) -> None:
    for r in rlimits:
        kind = getattr(resource, r.type)
        inf = resource.RLIM_INFINITY
        soft = inf if r.soft >= 2 ** 64 - 1 else r.soft
        hard = inf if r.hard >= 2 ** 64 - 1 else r.hard
        try:
            resource.setrlimit(kind, (soft, hard))
        except (ValueError, OSError):
            cur = resource.getrlimit(kind)
            raise OSError(1, f"setrlimit {r.type} to soft {r.soft} hard {r.hard}: not permitted "
                             f"(this host allows hard {cur[1] if cur[1] != inf else 'unlimited'}; "
                             f"raising it needs CAP_SYS_RESOURCE)") from None


def _switch_user(user) -> None:
    os.setgroups(user.additional_gids)
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    os.umask(user.umask if user.umask is not None else 0o022)


def _refuse_runtime_binary(path: str) -> None:
    """args[0] = /proc/self/exe would run the host's Python interpreter inside the container, where
    it can be rewritten through /proc (CVE-2019-5736). Refuse anything that is our own binary."""
    ours, theirs = os.stat("/proc/self/exe"), os.stat(path)
    if (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino):
        raise ExecFailed(f'exec: "{path}": is the runtime\'s own interpreter, not a program of the container: '
                         "refusing to run it (CVE-2019-5736)")


def find_executable(name: str, search_path: str) -> str:
    """Like Go's exec.LookPath (runc's messages, which engines match to pick exit codes 126/127)."""
    if "/" in name:
        candidates = [name]
    else:
        candidates = [os.path.join(d or ".", name) for d in search_path.split(":")]
    denied = False
    for c in candidates:
        if os.path.isfile(c):
            if os.access(c, os.X_OK):
                return c
            denied = True
        elif os.path.isdir(c) and "/" in name:
            raise CommandCannotRun(f'exec: "{name}": is a directory: permission denied')
    if denied:
        raise CommandCannotRun(f'exec: "{name}": permission denied')
    if "/" in name:
        raise CommandNotFound(f'exec: "{name}": stat {name}: no such file or directory')
    raise CommandNotFound(f'exec: "{name}": executable file not found in $PATH')
