"""The monitor: one process per root watching every detached container (see __init__.py)."""
import errno
import os
import selectors
import socket
import sys
import time

from runtime import fastjson as json
from runtime.errors import HullError, to_wire
from runtime.linux import poll
from runtime.engine.monitor.protocol import EXIT, RESIZE, STDERR, STDIN, STDOUT, frame, paths, read_frame

IDLE_EXIT = float(os.environ.get("HULL_MONITOR_IDLE") or 2)  # seconds with nothing to watch before it goes
OUTBOX_LIMIT = 1 << 20  # bytes waiting for a slow client before its container's output waits as well
# A container printing faster than the monitor wakes (`yes`) would cost a wakeup, a read and a log
# write per few KiB. Once a read brings FLOOD bytes, its pipe is grown to PIPE and read at most every
# REST seconds, whole, FLOOD_READ at a time (larger reads cost more than they save: the log records
# of a read are one buffer, 36 times a read of `yes`): the flood waits in its full pipe, as for a
# slow disk, and costs little per byte; quiet containers are read the moment they print.
READ, FLOOD, PIPE, FLOOD_READ, REST = 1 << 16, 1 << 12, 1 << 20, 1 << 18, 0.002


class Watch:
    """One running container as the monitor holds it."""

    def __init__(self, cid, pid, fds, stdin_fd, tty, writer, started, reservation, stdin_once=False):
        self.cid, self.pid, self.fds, self.stdin_fd, self.tty = cid, pid, fds, stdin_fd, tty
        self.writer, self.started, self.clients, self.reservation = writer, started, [], reservation
        self.status = None  # waitpid status once reaped
        self.stdin_once = stdin_once  # the first client's end of input closes the container's stdin
        self.stdin_box = bytearray()  # client input the container has not read yet
        self.stdin_eof = False  # its client's input ended: close its stdin after stdin_box
        self.paused = False  # its output is not read while a client is too slow to take it
        self.trace = None  # (fd, mode, zero) of the traced client attached at its start: its end is narrated too


class Monitor:
    def __init__(self, root: str):
        self.root = root
        self.sock_path, self.lock_path = paths(root)
        self.sel = selectors.DefaultSelector()
        self.watches = {}    # init pid -> Watch
        self.clients = {}    # attached connection -> (Watch, may it send stdin)
        self.outbox = {}     # attached connection -> frames it has not taken yet
        self.closing = set()  # connections to close once their outbox is empty
        self.trace_fds = {}  # connection -> the fd its traced client sent with its request
        self.waiting = {}    # container ID -> [(connection, stdin)] attached before its start (the API's order)
        self.restarts = {}   # container ID -> (when, delay)
        self.delays = {}     # container ID -> the next back-off delay
        self.resting = {}    # output fd of a flooding container -> (when it is read again, Watch, stream)
        self.floods = set()  # output fds whose pipe was grown: read a whole pipe at a time
        self.idle_since = time.monotonic()
        self.agent = None   # netlink, in-process: pyroute2 is imported once, when a network is first set up
        from runtime.network.dns import Resolver
        self.resolver = Resolver(root, self.sel, self._alive)
        # what the selector's keys carry ((kind, data)) -> who handles it; requests' "op" -> handler
        self.events = {"signal": self._on_signal, "accept": self._on_accept, "request": self._on_request,
                       "output": self._on_output, "dns": self._on_dns, "adopted": self._on_adopted,
                       "dns_reply": self._on_dns_reply}
        self.requests = {"start": self._op_start, "attach": self._op_attach, "netlink": self._op_netlink,
                         "dns": self._op_dns, "ping": self._op_ping, "adopt": self._op_adopt}

    def _alive(self, cid: str) -> bool:
        from runtime.engine.containers import Container
        c = Container(self.root, cid)
        try:
            return c.load().init_alive()
        except Exception:  # noqa: BLE001 - gone
            return False

    def run(self, lock: int) -> None:
        """lock: the root's monitor lock, held (by the keeper that forked us)."""
        from runtime.linux import libc
        libc.set_child_subreaper()
        import resource
        import signal
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a few fds per container
        for s in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(s, signal.SIG_IGN)
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel.register(r, selectors.EVENT_READ, ("signal", None))
        self.spare = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)  # see _on_accept
        self._listen()
        while True:
            timeout = self._next_timer()
            for key, mask in self.sel.select(timeout):
                kind, data = key.data
                try:
                    if kind == "client":
                        self._on_client(key.fileobj, mask)
                    else:
                        self.events[kind](key.fileobj, data)
                except Exception as e:  # noqa: BLE001 - one container's trouble must not end the others
                    sys.stderr.write(f"hull monitor: {kind}: {type(e).__name__}: {e}\n")
                    sys.stderr.flush()
            self._reap()
            if self.resting:
                self._wake_floods()
            for w in [w for w in self.watches.values() if w.stdin_box]:
                self._feed(w)
            self._due_restarts()
            if self.waiting:
                self._check_waiting()
            self.resolver.refresh()
            self.resolver.expire()
            if self._idle() and not self._stay():
                self.resolver.close()
                return

    # -- sockets --------------------------------------------------------------------------------------
    def _listen(self) -> None:
        try:
            os.unlink(self.sock_path)
        except FileNotFoundError:
            pass
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.listener.bind(self.sock_path)
        os.chmod(self.sock_path, 0o600)
        self.listener.listen(128)
        self.sel.register(self.listener, selectors.EVENT_READ, ("accept", None))

    def _on_accept(self, listener, _) -> None:
        try:
            conn, _ = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EMFILE, errno.ENFILE):
                raise
            # out of descriptors: the spare one makes room to tell the client why, rather than
            # leave it waiting (and this loop spinning on a listener that stays readable)
            os.close(self.spare)
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(1)
                try:
                    conn.sendall(json.dumps(to_wire(self._no_fds())).encode() + b"\n")
                except OSError:
                    pass
            self.spare = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            return
        conn.setblocking(True)
        conn.settimeout(10)
        self.sel.register(conn, selectors.EVENT_READ, ("request", b""))

    def _on_request(self, conn, buf) -> None:
        try:
            chunk, fds, _, _ = socket.recv_fds(conn, 65536, 1)  # a traced client's fd comes with its line
        except OSError:
            chunk, fds = b"", []
        for fd in fds:
            self.trace_fds[conn] = fd
        if not chunk:
            self._drop(conn)
            return
        buf += chunk
        if b"\n" not in buf:
            self.sel.modify(conn, selectors.EVENT_READ, ("request", buf))
            return
        line = buf.split(b"\n", 1)[0]
        self.sel.unregister(conn)
        trace_fd = self.trace_fds.pop(conn, None)
        traced = None
        try:
            msg = json.loads(line)
            handler = self.requests.get(msg.get("op"))
            if handler is None:
                from runtime.errors import InvalidArgument
                raise InvalidArgument(f"unknown request {msg.get('op')!r}")
            if trace_fd is not None and isinstance(msg.get("trace"), dict):
                traced = (trace_fd, msg["trace"].get("mode") or "text", float(msg["trace"].get("t0") or 0))
            with self._tracing(traced):
                reply = handler(conn, msg)
            if reply is None:
                w = next((w for w in self.watches.values() if w.cid == msg.get("id")), None)
                if traced and w is not None and w.trace is None:
                    w.trace, trace_fd = traced, None  # its end is narrated to the client that started it
                return  # the handler keeps the connection (attach)
        except Exception as e:  # noqa: BLE001 - every failure goes back to the client, with its kind
            if isinstance(e, OSError) and e.errno in (errno.EMFILE, errno.ENFILE):
                e = self._no_fds()
            reply = to_wire(e if isinstance(e, (HullError, OSError)) else HullError(f"{type(e).__name__}: {e}"))
        finally:
            if trace_fd is not None:
                os.close(trace_fd)
        try:
            conn.sendall(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass
        conn.close()

    @staticmethod
    def _no_fds():
        """The first limit one root meets: the monitor's open files, a few per running container."""
        import resource
        from runtime.errors import Conflict
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return Conflict(f"the monitor of this root has no file descriptor left (its limit is {limit}, about 3 for each "
                        f"running container): stop some, or start hull from a shell with a higher hard limit "
                        f"(ulimit -Hn)")

    @staticmethod
    def _tracing(traced):
        """Narrate to a traced client while working for it (its --trace stream), else nothing."""
        if traced is None:
            import contextlib
            return contextlib.nullcontext()
        from runtime import tracing
        return tracing.to(*traced)

    # -- requests: {"op": NAME, ...} -> a reply, or None when the handler keeps the connection ----------
    def _op_start(self, conn, msg) -> dict | None:
        reply = self.start(msg["id"])
        if not msg.get("attach"):
            return reply
        self.attach(conn, msg["id"], bool(msg.get("stdin")))  # before any of its output is read
        return None

    def _op_attach(self, conn, msg) -> None:
        self.attach(conn, msg["id"], bool(msg.get("stdin")), bool(msg.get("before_start")))

    def _op_netlink(self, conn, msg) -> dict:
        """A foreground hull run's network setup: pyroute2 is loaded here once."""
        if self.agent is None:
            from runtime.network import netlink
            self.agent = netlink.Agent(in_process=True)
        return {"ok": self.agent.call(msg["fn"], **msg["args"])}

    def _op_dns(self, conn, msg) -> dict:
        self.resolver.refresh(force=True)
        return {"ok": True, "serving": sorted(self.resolver.sockets)}

    def _op_adopt(self, conn, msg) -> dict:
        """A detached exec's pty master: read until its process ends (client.adopt_terminal)."""
        from runtime.linux import tty as tty_mod
        conn.sendall(json.dumps({"ok": True}).encode() + b"\n")
        fd = tty_mod.recv_fd(conn)
        os.set_blocking(fd, False)
        self.sel.register(fd, selectors.EVENT_READ, ("adopted", None))
        return {"ok": True}

    def _on_adopted(self, fd, _) -> None:
        try:
            if os.read(fd, 65536):
                return  # nobody is attached to an exec: its output goes nowhere, as under docker
        except BlockingIOError:
            return
        except OSError:
            pass
        self._unregister(fd)
        os.close(fd)

    def _op_ping(self, conn, msg) -> dict:
        return {"ok": True, "pid": os.getpid(), "watching": len(self.watches)}

    def _drop(self, conn) -> None:
        self._unregister(conn)
        if conn in self.trace_fds:
            os.close(self.trace_fds.pop(conn))
        w, _ = self.clients.pop(conn, (None, None))
        self.outbox.pop(conn, None)
        self.closing.discard(conn)
        if w is not None:
            w.clients.remove(conn)
            self._pace(w)
        conn.close()

    def _unregister(self, fileobj) -> None:
        try:
            self.sel.unregister(fileobj)
        except (KeyError, ValueError):
            pass

    # -- starting containers ----------------------------------------------------------------------------
    def start(self, cid: str) -> dict:
        from runtime.engine import logs, runner
        from runtime.engine.containers import Container
        c = Container(self.root, cid)
        with c:
            runner.reconcile(c)
            if c.init_alive():
                return {"ok": True, "pid": c.state["Pid"], "already": True}
            cfg = c.config["Config"]
            tty, stdin = bool(cfg.get("Tty")), bool(cfg.get("OpenStdin"))
            ours, close_after = [], []
            if stdin and not tty:
                in_r, in_w = os.pipe2(os.O_CLOEXEC)
                close_after.append(in_r)
            else:
                in_r, in_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
                close_after.append(in_r)
            console = theirs_sock = None
            if tty:
                ours_sock, theirs_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                console = theirs_sock
                stdio = (in_r, in_r, in_r)
            else:
                out_r, out_w = os.pipe2(os.O_CLOEXEC)
                err_r, err_w = os.pipe2(os.O_CLOEXEC)
                ours, close_after = [(out_r, "stdout"), (err_r, "stderr")], close_after + [out_w, err_w]
                stdio = (in_r, out_w, err_w)
            from runtime.network import netlink, ports
            if self.agent is None and runner.network_mode(c) not in ("none", "host"):
                self.agent = netlink.Agent(in_process=True)
            reservation = ports.Reservation()
            try:
                pid = runner.launch(c, stdio, console, self.agent, reservation)
            except BaseException:
                for fd in close_after + [fd for fd, _ in ours] + ([in_w] if in_w else []):
                    os.close(fd)
                if tty:
                    ours_sock.close()
                    theirs_sock.close()
                raise
            finally:
                for fd in close_after:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            if tty:
                from runtime.linux import tty as tty_mod
                theirs_sock.close()
                master = tty_mod.recv_fd(ours_sock)
                ours_sock.close()
                ours, in_w = [(master, "stdout")], master
            writer = logs.writer_for(c)
            w = Watch(cid, pid, ours, in_w, tty, writer, time.monotonic(), reservation, bool(cfg.get("StdinOnce")))
            if in_w is not None:
                os.set_blocking(in_w, False)  # input waits in stdin_box, never blocking the loop
            for fd, stream in ours:
                os.set_blocking(fd, False)
                self.sel.register(fd, selectors.EVENT_READ, ("output", (w, stream)))
            self.watches[pid] = w
            from runtime import trace
            trace.note(f"monitor {os.getpid()}: watches init {pid} of {cid[:12]}, its output to the "
                       f"{c.config['HostConfig'].get('LogConfig', {}).get('Type') or 'json-file'} log", kind="monitor")
            for conn, stdin in self.waiting.pop(cid, []):
                self._join(w, conn, stdin)  # before any of its output is read
            self.restarts.pop(cid, None)
            if runner.needs_dns(c):
                self.resolver.refresh(force=True)
        return {"ok": True, "pid": pid}

    def attach(self, conn, cid: str, stdin: bool, before_start: bool = False) -> None:
        """before_start: a container that does not run yet is attached at its next start (the
        Docker API's attach comes before start, and must miss none of its output)."""
        w = next((w for w in self.watches.values() if w.cid == cid), None)
        if w is None and before_start:
            from runtime.engine.containers import Container
            c = Container(self.root, cid).load()
            conn.sendall(json.dumps({"ok": True, "tty": bool(c.config["Config"].get("Tty"))}).encode() + b"\n")
            self.waiting.setdefault(cid, []).append((conn, stdin))
            return
        if w is None:
            conn.sendall(json.dumps({"error": f"container {cid[:12]} is not running", "kind": "Conflict"}).encode() + b"\n")
            conn.close()
            return
        conn.sendall(json.dumps({"ok": True, "tty": w.tty, "pid": w.pid}).encode() + b"\n")
        self._join(w, conn, stdin)

    def _check_waiting(self) -> None:
        """Let go of clients attached before a start that gave up, or whose container is gone."""
        from runtime.engine.containers import Container
        for cid, conns in list(self.waiting.items()):
            gone = not os.path.isdir(Container(self.root, cid).path())
            for conn, stdin in list(conns):
                try:  # (select first: the connection's timeout would make recv wait)
                    left = bool(poll.readable([conn], 0)) and conn.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    left = True
                if left or gone:
                    conns.remove((conn, stdin))
                    conn.close()
            if not conns:
                del self.waiting[cid]

    def _join(self, w: Watch, conn, stdin: bool) -> None:
        os.set_blocking(conn.fileno(), False)  # (reads still wait up to its timeout: a frame comes whole)
        w.clients.append(conn)
        self.clients[conn] = (w, stdin)
        self._arm(conn)

    # -- attached clients: frames both ways, neither side ever blocking the loop ----------------------
    def _arm(self, conn) -> None:
        """Listen to a client while its container can take more input; wait for it to be writable
        while frames wait for it."""
        w, _ = self.clients[conn]
        events = (0 if w.stdin_box else selectors.EVENT_READ) | (selectors.EVENT_WRITE if self.outbox.get(conn) else 0)
        if not events:
            self._unregister(conn)
        elif conn in self.sel.get_map():
            self.sel.modify(conn, events, ("client", None))
        else:
            self.sel.register(conn, events, ("client", None))

    def _on_client(self, conn, mask) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
        if mask & selectors.EVENT_READ and conn in self.clients:
            self._on_frame(conn)

    def _on_frame(self, conn) -> None:
        """A frame from an attached client: stdin for the container (empty: its input ended), or
        a terminal resize."""
        w, stdin = self.clients[conn]
        try:
            got = read_frame(conn)
        except OSError:
            got = None
        if got is None:
            self._drop(conn)
            return
        stream, payload = got
        if stream == STDIN and stdin and w.stdin_fd is not None:
            if payload:
                w.stdin_box += payload
                self._feed(w)
            elif w.stdin_once and not w.tty:
                w.stdin_eof = True  # closed once what waits is written
                self._feed(w)
        elif stream == RESIZE and w.tty:
            from runtime.linux import tty as tty_mod
            rows, cols = (int(x) for x in payload.split())
            tty_mod.set_winsize(w.fds[0][0], rows, cols)

    def _feed(self, w: Watch) -> None:
        """Write what waits for the container's stdin, as much as it takes now; its clients are
        heard again once it has taken everything (the loop retries meanwhile)."""
        try:
            while w.stdin_box and w.stdin_fd is not None:
                del w.stdin_box[:os.write(w.stdin_fd, w.stdin_box)]
        except BlockingIOError:
            pass
        except OSError:  # the container closed its stdin
            w.stdin_box.clear()
        if w.stdin_box:
            return
        if w.stdin_eof and w.stdin_fd is not None:
            os.close(w.stdin_fd)
            w.stdin_fd = None
        for conn in w.clients:
            self._arm(conn)

    def _send(self, conn, stream: int, data: bytes) -> None:
        self.outbox.setdefault(conn, bytearray()).extend(frame(stream, data))
        self._flush(conn)

    def _flush(self, conn) -> None:
        """Send what the client's socket takes now; the rest waits for it to be writable."""
        box = self.outbox.get(conn)
        try:
            while box:  # os.write: socket.send would wait out the socket's timeout
                del box[:os.write(conn.fileno(), box)]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(conn)
            return
        if not box and conn in self.closing:
            self._drop(conn)
            return
        self._arm(conn)
        self._pace(self.clients[conn][0])

    def _pace(self, w: Watch) -> None:
        """Back-pressure: while one of its clients has OUTBOX_LIMIT bytes waiting, the container's
        output is left in its pipe (the container waits, as under docker), not piled up here."""
        slow = any(len(self.outbox.get(c) or b"") > OUTBOX_LIMIT for c in w.clients)
        if slow == w.paused or w.status is not None:
            return
        w.paused = slow
        for fd, stream in w.fds:
            if slow:
                self._unregister(fd)
            else:
                self.resting.pop(fd, None)
                self.sel.register(fd, selectors.EVENT_READ, ("output", (w, stream)))

    # -- output and exits --------------------------------------------------------------------------------
    def _on_output(self, fd, data) -> None:
        w, stream = data
        size, reads = (FLOOD_READ, PIPE // FLOOD_READ) if fd in self.floods else (READ, 1)
        got = 0
        for _ in range(reads):  # a flooding container's: its whole pipe
            try:
                chunk = os.read(fd, size)
            except BlockingIOError:
                break
            except OSError:  # EIO: the pty's other side is closed
                chunk = b""
            if not chunk:
                self._unregister(fd)
                self._forget(fd)
                w.fds = [(f, s) for f, s in w.fds if f != fd]
                if w.stdin_fd != fd:
                    os.close(fd)
                w.writer.flush(stream)
                self._maybe_finished(w)
                return
            self._output(w, stream, chunk)
            got += len(chunk)
            if len(chunk) < size:
                break
        if got >= FLOOD:
            self._rest(fd, w, stream)

    def _rest(self, fd: int, w: Watch, stream: str) -> None:
        """A flooding container's output: left to fill its pipe for REST seconds."""
        if fd not in self.floods:
            self.floods.add(fd)
            try:
                import fcntl
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE)
            except OSError:  # a pty, or the user's pipe pages spent: read as it is
                pass
        self._unregister(fd)
        self.resting[fd] = (time.monotonic() + REST, w, stream)

    def _wake_floods(self) -> None:
        now = time.monotonic()
        for fd, (when, w, stream) in list(self.resting.items()):
            if when <= now:
                del self.resting[fd]
                if not w.paused and (fd, stream) in w.fds:
                    self.sel.register(fd, selectors.EVENT_READ, ("output", (w, stream)))

    def _forget(self, fd: int) -> None:
        self.resting.pop(fd, None)
        self.floods.discard(fd)

    def _output(self, w: Watch, stream: str, chunk: bytes) -> None:
        """Container output: to its log, and to every attached client."""
        w.writer.write(stream, chunk)
        for conn in list(w.clients):
            self._send(conn, STDERR if stream == "stderr" else STDOUT, chunk)

    def _on_dns(self, sock, network) -> None:
        self.resolver.on_query(sock, network)

    def _on_dns_reply(self, sock, data) -> None:
        self.resolver.on_reply(sock, data)

    def _on_signal(self, fd, _) -> None:
        try:
            os.read(fd, 4096)
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            w = self.watches.get(pid)
            if w is not None:
                w.status = status
                self._maybe_finished(w)

    def _maybe_finished(self, w: Watch) -> None:
        """The init was reaped and its output read to the end (a pty may stay open a little longer:
        once reaped, what is left is read now)."""
        if w.status is None:
            return
        for fd, stream in list(w.fds):
            self._drain(w, fd, stream)
        self._finish(w)

    def _drain(self, w: Watch, fd: int, stream: str) -> None:
        while True:
            try:
                chunk = os.read(fd, FLOOD_READ if fd in self.floods else READ)
            except (BlockingIOError, OSError):
                chunk = b""
            if not chunk:
                break
            self._output(w, stream, chunk)
        self._unregister(fd)
        self._forget(fd)
        w.fds = [(f, s) for f, s in w.fds if f != fd]
        os.close(fd)
        if w.stdin_fd == fd:
            w.stdin_fd = None

    def _finish(self, w: Watch) -> None:
        from runtime.engine import restart, runner
        from runtime.engine.containers import Container
        from runtime.errors import NotFound
        from runtime.linux import proc
        del self.watches[w.pid]
        w.writer.close()
        w.reservation.release()
        if w.stdin_fd is not None:
            os.close(w.stdin_fd)
        code = proc.exit_code(w.status)
        try:
            with self._tracing(w.trace), Container(self.root, w.cid) as c:
                from runtime import trace
                trace.note(f"monitor: init {w.pid} of {w.cid[:12]} reaped: exit code {code}", kind="monitor")
                removed = runner.finish(c, code)
                trace.note(f"monitor: exit recorded{', container removed (--rm)' if removed else ''}", kind="monitor")
                if not removed and restart.wants_restart(c.config["HostConfig"].get("RestartPolicy"), c.state, code):
                    delay, self.delays[w.cid] = restart.back_off(self.delays.get(w.cid), time.monotonic() - w.started)
                    c.state["Restarting"] = True
                    c.save_state()
                    self.restarts[w.cid] = time.monotonic() + delay
        except NotFound:
            pass  # removed meanwhile (rm -f)
        finally:
            # the exit reaches attached clients once it is recorded (and --rm done): a `hull run
            # -it --rm` that returns leaves nothing behind, as docker's
            for conn in list(w.clients):
                self.closing.add(conn)  # closed once it has taken every frame
                self._send(conn, EXIT, json.dumps({"code": code}).encode())
            if w.trace is not None:
                os.close(w.trace[0])

    def _due_restarts(self) -> None:
        from runtime.engine.containers import Container
        from runtime.errors import NotFound
        now = time.monotonic()
        for cid, when in list(self.restarts.items()):
            if when > now:
                continue
            del self.restarts[cid]
            try:
                with Container(self.root, cid) as c:
                    again = c.state.get("Restarting") and not c.state.get("StoppedByUser")
                    if again:  # still "restarting" until launch records it running: no gap to see
                        c.state["RestartCount"] = c.state.get("RestartCount", 0) + 1
                    else:
                        c.state["Restarting"] = False
                    c.save_state()
                if again:
                    self.start(cid)
            except NotFound:
                continue
            except Exception as e:  # noqa: BLE001
                sys.stderr.write(f"hull monitor: restart of {cid[:12]}: {e}\n")
                try:
                    with Container(self.root, cid) as c:
                        c.state.update(Restarting=False, Error=f"restart failed: {e}")
                        c.save_state()
                except NotFound:
                    pass

    # -- timers and the idle exit ---------------------------------------------------------------------
    def _next_timer(self) -> float:
        waits = [when - time.monotonic() for when in self.restarts.values()]
        if self.resting:
            waits.append(min(when for when, _, _ in self.resting.values()) - time.monotonic())
        if any(w.stdin_box for w in self.watches.values()):
            waits.append(0.01)  # input waiting for a container's full stdin: retried (never a blocking write)
        if not self.watches and not self.restarts:
            waits.append(IDLE_EXIT)
        if self.waiting:
            waits.append(0.5)
        if self.resolver.busy() or self.resolver.pending:
            waits.append(1.0)  # names come and go with containers the monitor may not watch
        return max(0.0, min(waits)) if waits else None

    def _idle(self) -> bool:
        busy = self.watches or self.restarts or self.clients or self.waiting or self.resolver.busy() or any(
            key.data[0] in ("request", "client", "adopted") for key in self.sel.get_map().values())
        if busy:
            self.idle_since = time.monotonic()
            return False
        return time.monotonic() - self.idle_since >= IDLE_EXIT

    def _stay(self) -> bool:
        """Going: no new client can find us once the socket is gone; serve any that connected just
        before (then stay, socket back in place: we still hold the lock, so no other monitor runs)."""
        os.unlink(self.sock_path)
        self.listener.setblocking(False)
        pending = []
        while True:
            try:
                pending.append(self.listener.accept()[0])
            except BlockingIOError:
                break
        if not pending:
            self.listener.close()
            return False
        self.sel.unregister(self.listener)
        self.listener.close()
        self._listen()
        for conn in pending:
            conn.setblocking(True)
            conn.settimeout(10)
            self.sel.register(conn, selectors.EVENT_READ, ("request", b""))
        self.idle_since = time.monotonic()
        return True
