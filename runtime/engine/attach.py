"""Connecting a terminal to containers: attach (`hull run` in the foreground, `start -a`,
`attach`: the monitor watches the container and streams it here), exec into a running one, and
the build's RUN steps (run_in_foreground: the builder watches the step's container itself).

run_in_foreground makes its caller a child subreaper: the container's init becomes its child, its
output comes through pipes that are copied to the caller's fds and to the json-file log, and its
exit status is written to the container's state before it returns.
"""
import os
import _signal as signal

from runtime.engine import events, logs, runner
from runtime.errors import Conflict, InvalidArgument, NotFound
from runtime.linux import poll

DETACH = b"\x10\x11"  # ctrl-p ctrl-q


def run_in_foreground(c, interactive: bool, tty: bool, agent=None, out: tuple = (1, 2)) -> int:
    """Start the (locked by us meanwhile) container and watch it to the end; its exit code. Its
    stdout and stderr go to the fds out (and to its log)."""
    from runtime.linux import libc, proc
    libc.set_child_subreaper()
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    ours = theirs = None
    pipes = []
    with c:
        runner.reconcile(c)
        if c.init_alive():
            raise Conflict(f"container {c.id[:12]} is already running")
        c.state["StoppedByUser"] = False
        if tty:
            import socket
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            stdio = (devnull, devnull, devnull)
        else:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            pipes = [(out_r, out[0], "stdout"), (err_r, out[1], "stderr")]
            stdio = (0 if interactive else devnull, out_w, err_w)
        from runtime.network import ports
        reservation = ports.Reservation()  # the host ports it publishes: ours while it runs
        try:
            pid = runner.launch(c, stdio, theirs, agent, reservation)
        except BaseException:
            for fd, _, _ in pipes:
                os.close(fd)
            if ours is not None:
                ours.close()
            raise
        finally:
            os.close(devnull)
            if not tty:
                os.close(out_w)
                os.close(err_w)
            if theirs is not None:
                theirs.close()
    if runner.needs_dns(c):
        from runtime.engine import monitor
        monitor.request(c.root, op="dns")  # the monitor answers names on user networks
    writer = logs.writer_for(c)
    from runtime.container.lifecycle import forward_signals
    forwarded = forward_signals(pid) if not tty else {}  # docker run's --sig-proxy
    try:
        if tty:
            from runtime.linux import tty as tty_mod
            master = tty_mod.recv_fd(ours)
            ours.close()
            _relay_pty(master, interactive, writer)
            os.close(master)
        else:
            _relay_pipes(pipes, writer)
        _, status = os.waitpid(pid, 0)
    finally:
        writer.close()
        reservation.release()
        for s, old in forwarded.items():
            signal.signal(s, old)
    code = proc.exit_code(status)
    try:
        with c:
            runner.finish(c, code)
    except NotFound:
        pass  # removed while it ran (rm -f): nothing to record
    return code


def _relay_pipes(pipes: list, writer) -> None:
    """Copy the container's stdout and stderr to ours and to its log until both end."""
    open_ = {fd: (out, name) for fd, out, name in pipes}
    while open_:
        try:
            ready = poll.readable(list(open_))
        except InterruptedError:
            continue
        for fd in ready:
            data = os.read(fd, 65536)
            out, name = open_[fd]
            if not data:
                writer.flush(name)
                os.close(fd)
                del open_[fd]
                continue
            writer.write(name, data)
            _write_all(out, data)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            data = data[os.write(fd, data):]
        except BrokenPipeError:
            return  # our reader left; the container's output still goes to its log
        except InterruptedError:
            continue


def _relay_pty(master: int, interactive: bool, writer) -> None:
    """The terminal in raw mode on the container's pty: keys in, output out (and to the log),
    window size kept in step (SIGWINCH), until the container's side is closed."""
    from runtime.linux import tty as tty_mod
    raw = _RawTerminal()
    size = tty_mod.get_winsize(0) if os.isatty(0) else None
    if size:
        tty_mod.set_winsize(master, *size)
    old = signal.signal(signal.SIGWINCH, lambda *_: _copy_winsize(master))
    readers = [master] + ([0] if interactive else [])
    try:
        while True:
            try:
                ready = poll.readable(readers)
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every process of the container closed the terminal
                    data = b""
                if not data:
                    writer.flush("stdout")
                    return
                writer.write("stdout", data)
                _write_all(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    _write_all(master, data)
                else:
                    readers.remove(0)
    finally:
        signal.signal(signal.SIGWINCH, old)
        raw.restore()


def tty_size(fd: int):
    """(rows, cols) of the terminal on fd, or None."""
    if not os.isatty(fd):
        return None
    from runtime.linux import tty as tty_mod
    return tty_mod.get_winsize(fd)


def _copy_winsize(master: int) -> None:
    from runtime.linux import tty as tty_mod
    size = tty_mod.get_winsize(0)
    if size:
        tty_mod.set_winsize(master, *size)


class _RawTerminal:
    """Our terminal (if stdin is one) in raw mode until restore()."""

    def __init__(self):
        self.saved = None
        if os.isatty(0):
            import termios
            import tty
            self.saved = termios.tcgetattr(0)
            tty.setraw(0)

    def restore(self) -> None:
        if self.saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, self.saved)


def exec_in(c, command: list, interactive: bool, tty: bool, detach: bool, env: list, workdir: str | None,
            user: str | None, privileged: bool, detach_keys: str = "ctrl-p,ctrl-q", exec_id: str | None = None,
            winsize=None) -> int:
    """docker exec: the process of the container's config with this command (and -e/-w/-u), in its
    namespaces and cgroup (the core's execute). Returns its exit code (0 with -d, or when the
    detach keys are typed on its terminal)."""
    keys = detach_bytes(detach_keys)
    from runtime import fastjson as json
    from runtime.container import execute
    from runtime.engine import bundle
    with open(c.path("bundle", "config.json"), "rb") as f:
        process = json.load(f)["process"]
    process = {**process, "args": list(command), "terminal": tty,
               "env": bundle.merge_env(process.get("env") or [], env), "cwd": workdir or process.get("cwd") or "/"}
    if user:
        process["user"] = bundle.resolve_user(c.path("merged"), user)
    if privileged:
        every = bundle.available_caps()
        process["capabilities"] = {k: list(every) for k in ("bounding", "effective", "permitted")}
    if not interactive:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)  # no stdin unless -i, as docker
        os.close(null)
    what = " ".join(command)
    if exec_id is None:  # (the API's exec has its record, and its create event, already)
        exec_id = os.urandom(32).hex()
        events.container(c, f"exec_create: {what}", execID=exec_id)
    events.container(c, f"exec_start: {what}", execID=exec_id)
    size = (winsize() if winsize else None) or (tty_size(0) or tty_size(1) if tty else None)
    if size and all(size):
        process["consoleSize"] = {"height": size[0], "width": size[1]}  # from its start, not after
    relay = _TerminalRelay(c.root, keys, winsize) if tty and not detach else None
    code = execute.execute(runner.core_store(c.root), c.id, process, detach=detach, relay=relay)
    if not detach:
        events.container(c, "exec_die", execID=exec_id, exitCode=code)
    return code


def attach(c, stdin: bool, detach_keys: str, start: bool = False) -> int:
    """`hull attach` (and, with start, a foreground `hull run` / `start -a`): the monitor streams
    the container's output here (and our stdin there) until it exits (its code) or, on a terminal,
    the detach keys are typed (0; the container goes on under the monitor). start: the monitor
    starts it first, with this connection attached before any output is read, so nothing printed
    at start is missed. Whatever happens to this process (a closed terminal, kill -9), the monitor
    records the exit and applies --rm. Without a terminal, our signals go to the container
    (docker's --sig-proxy)."""
    from runtime.engine import monitor
    keys = detach_bytes(detach_keys)
    if start:
        events.container(c, "attach")  # docker's order: attached, then started
    sock = monitor.connect(c.root)
    monitor.send_request(sock, {"op": "start" if start else "attach", "attach": True, "id": c.id, "stdin": stdin})
    reply = monitor.read_reply(sock)
    if "error" in reply:
        sock.close()
        from runtime.errors import from_wire
        raise from_wire(reply)
    if not start:
        events.container(c, "attach")
    tty = reply.get("tty")
    detacher = Detacher(keys if tty else b"")  # docker reads detach keys on a terminal only
    raw = _RawTerminal() if tty and stdin else None
    from runtime.container.lifecycle import forward_signals
    forwarded = forward_signals(reply["pid"]) if not tty else {}

    def resize(*_):
        from runtime.linux import tty as tty_mod
        size = tty_mod.get_winsize(0)
        if size:
            monitor.send_frame(sock, monitor.RESIZE, f"{size[0]} {size[1]}".encode())
    old_winch = None
    if tty and os.isatty(0):
        resize()
        old_winch = signal.signal(signal.SIGWINCH, resize)
    if stdin:  # input in a thread of its own: a blocked send never stops us reading the output
        import threading
        threading.Thread(target=_send_input, args=(sock, detacher), daemon=True).start()
    try:
        while True:
            frame = monitor.read_frame(sock)
            if frame is None:
                return 0  # detached (or the monitor went away: the container's record says how it ended)
            stream, data = frame
            if stream == monitor.EXIT:
                from runtime import fastjson as json
                return json.loads(data)["code"]
            _write_all(2 if stream == monitor.STDERR else 1, data)
    finally:
        for s, old in forwarded.items():
            signal.signal(s, old)
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        if raw:
            raw.restore()
        sock.close()


class _TerminalRelay:
    """exec -it's terminal with docker's detach keys: our keys to its pty, its output to us, until
    it ends (its wait status) or the keys are typed (None): then the pty goes to the monitor, which
    reads it until the process ends, so the process is neither hung up nor blocked on output."""

    def __init__(self, root: str, keys: bytes, winsize=None):
        """winsize(): the terminal's (rows, cols) when ours is not one (the API's exec: its resize
        requests), asked again on each SIGWINCH."""
        self.root, self.keys, self.winsize = root, keys, winsize

    def __call__(self, pid: int, master: int):
        import threading
        done_r, done_w = os.pipe2(os.O_CLOEXEC)
        status = []

        def reap():
            status.append(os.waitpid(pid, 0)[1])
            os.write(done_w, b"x")
        threading.Thread(target=reap, daemon=True).start()
        detacher, raw = Detacher(self.keys), _RawTerminal()
        old_winch = signal.signal(signal.SIGWINCH, lambda *_: self._resize(master))
        self._resize(master)  # (after the handler: a resize asked meanwhile is not lost)
        readers = [master, done_r, 0]
        try:
            while True:
                try:
                    ready = poll.readable(readers)
                except InterruptedError:
                    continue
                if master in ready and not self._copy_out(master):
                    readers.remove(master)  # every holder of the terminal closed it: the reap follows
                if done_r in ready:
                    while master in readers and poll.readable([master], 0) and self._copy_out(master):
                        pass  # what it wrote last
                    os.close(done_w)  # (left open on a detach: the reaper may still write to it)
                    return status[0]
                if 0 in ready:
                    data = os.read(0, 65536)
                    if not data:
                        readers.remove(0)
                        continue
                    data, detached = detacher.feed(data)
                    _write_all(master, data)
                    if detached:
                        from runtime.engine import monitor
                        monitor.adopt_terminal(self.root, master)
                        os.write(2, b"\r\nread escape sequence\r\n")
                        return None
        finally:
            signal.signal(signal.SIGWINCH, old_winch)
            raw.restore()
            os.close(done_r)

    def _resize(self, master: int) -> None:
        if os.isatty(0):
            _copy_winsize(master)
        elif self.winsize is not None and (size := self.winsize()):
            from runtime.linux import tty as tty_mod
            tty_mod.set_winsize(master, *size)

    @staticmethod
    def _copy_out(master: int) -> bool:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            return False
        _write_all(1, data)
        return bool(data)


def _send_input(sock, detacher) -> None:
    """Our stdin to the container until it ends (then an empty frame: its stdin ends too) or the
    detach keys are typed (then the connection is shut, which ends attach's loop)."""
    from runtime.engine import monitor
    try:
        while data := os.read(0, 65536):
            data, done = detacher.feed(data)
            if data:
                monitor.send_frame(sock, monitor.STDIN, data)
            if done:
                os.write(2, b"\r\nread escape sequence\r\n")
                sock.shutdown(2)
                return
        monitor.send_frame(sock, monitor.STDIN, b"")
    except OSError:
        pass  # the container ended and the monitor closed the connection


class Detacher:
    """docker's detach keys: a key that may begin the sequence is held back until the next one
    shows whether the sequence goes on (so Ctrl-P alone never reaches the shell early, and
    Ctrl-P Ctrl-Q never reaches it at all); on a mismatch the held keys go on, in order."""

    def __init__(self, keys: bytes):
        self.keys, self.held = keys, b""

    def feed(self, data: bytes) -> tuple:
        """(the bytes to send on now, whether the whole sequence was typed)."""
        if not self.keys:
            return data, False
        out = b""
        for i in range(len(data)):
            self.held += data[i:i + 1]
            while self.held and not self.keys.startswith(self.held):
                out, self.held = out + self.held[:1], self.held[1:]  # the first held key was not one
            if self.held == self.keys:
                self.held = b""
                return out, True
        return out, False


def detach_bytes(spec: str) -> bytes:
    """docker's --detach-keys: "ctrl-p,ctrl-q" -> b"\\x10\\x11" (ctrl-X is X & 0x1f)."""
    out = b""
    for key in spec.split(",") if spec else []:
        key = key.strip()
        if key.startswith("ctrl-") and len(key) == 6 and (key[5].isalpha() or key[5] in "@[\\]^_"):
            out += bytes([ord(key[5].upper()) & 0x1f])
        elif len(key) == 1 and " " <= key <= "~":
            out += key.encode()
        else:
            raise InvalidArgument(f"Invalid detach keys ({spec}) provided: a comma-separated list like ctrl-p,ctrl-q")
    return out
