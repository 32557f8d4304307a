"""The byte streams of the Docker API: docker's 8-byte frames (stdcopy) for a container without a
terminal, raw bytes with one; attach relayed between the client's hijacked connection and the
root's monitor."""
import os
import socket
import struct
import threading

STDIN, STDOUT, STDERR, SYSERR = 0, 1, 2, 3
RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


def content_type(tty: bool, req) -> str:
    return RAW if tty or not req.at_least("1.42") else MULTIPLEXED


def frame(stream: int, data: bytes) -> bytes:
    """moby's stdcopy header: the stream, three zero bytes, the length (big-endian)."""
    return struct.pack(">BxxxI", stream, len(data)) + data


class TextOut:
    """A file-like writer for the engine's text output (logs): each write becomes a frame of
    `stream` (or raw bytes with a terminal) on write_bytes."""

    def __init__(self, write_bytes, stream: int, tty: bool):
        self.write_bytes, self.stream, self.tty = write_bytes, stream, tty

    def write(self, text) -> None:
        data = text.encode() if isinstance(text, str) else text
        if data:
            self.write_bytes(data if self.tty else frame(self.stream, data))

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class Attached:
    """The client's attach streams, per root: `resize` finds the monitor connection of an attached
    terminal here."""
    lock = threading.Lock()
    by_container = {}

    @classmethod
    def add(cls, cid: str, mon) -> None:
        with cls.lock:
            cls.by_container.setdefault(cid, []).append(mon)

    @classmethod
    def remove(cls, cid: str, mon) -> None:
        with cls.lock:
            conns = cls.by_container.get(cid, [])
            if mon in conns:
                conns.remove(mon)
            if not conns:
                cls.by_container.pop(cid, None)

    @classmethod
    def resize(cls, cid: str, height: int, width: int) -> bool:
        from runtime.engine import monitor
        with cls.lock:
            conns = list(cls.by_container.get(cid, []))
        for mon in conns[:1]:
            monitor.send_frame(mon, monitor.RESIZE, f"{height} {width}".encode())
        return bool(conns)


def open_attach(root: str, cid: str, stdin: bool):
    """The monitor's connection for attaching to a container, registered before the client hears
    101 (it starts the container right after): nothing it prints at start is missed. A container
    that does not run yet is attached at its start."""
    from runtime.engine import events, monitor
    from runtime.engine.containers import Container
    from runtime.errors import from_wire
    mon = monitor.connect(root)
    mon.sendall(json_line({"op": "attach", "id": cid, "stdin": stdin, "before_start": True}))
    reply = monitor.read_reply(mon)
    if "error" in reply:
        mon.close()
        raise from_wire(reply)
    events.container(Container(root, cid).load(), "attach")
    return mon


def relay_attach(mon, cid: str, tty: bool, stdin: bool, stdout: bool, stderr: bool, sock, already: bytes) -> None:
    """The container's output to the client (framed unless tty) until it exits, the client's input
    (if stdin) to it. The client half-closing its side ends the container's input, never its output."""
    from runtime.engine import monitor
    Attached.add(cid, mon)
    try:
        if stdin:
            threading.Thread(target=_input, args=(sock, mon, already), daemon=True).start()
        wanted = {monitor.STDOUT: stdout, monitor.STDERR: stderr}
        while True:
            got = monitor.read_frame(mon)
            if got is None or got[0] == monitor.EXIT:
                break
            stream, data = got
            if wanted.get(stream):
                sock.sendall(data if tty else frame(STDERR if stream == monitor.STDERR else STDOUT, data))
        try:
            sock.shutdown(socket.SHUT_WR)  # the end of output: the client reads the exit code from wait
        except OSError:
            pass
    finally:
        Attached.remove(cid, mon)
        mon.close()


def _input(sock, mon, already: bytes) -> None:
    from runtime.engine import monitor
    try:
        if already:
            monitor.send_frame(mon, monitor.STDIN, already)
        while data := sock.recv(65536):
            monitor.send_frame(mon, monitor.STDIN, data)
        monitor.send_frame(mon, monitor.STDIN, b"")  # half-closed: the container's stdin ends
    except OSError:
        pass


def relay_process(proc, sock, already: bytes, tty: bool, stdin: bool) -> int:
    """exec start: a process's pipes (or its terminal, as one socket) to and from the client's
    connection; returns its exit code once it has ended and its output is sent."""
    if stdin:
        threading.Thread(target=_feed, args=(sock, proc.stdin, already), daemon=True).start()
    outs = [(proc.stdout, STDOUT)] + ([(proc.stderr, STDERR)] if proc.stderr is not None else [])
    threads = [threading.Thread(target=_drain, args=(f, stream, sock, tty), daemon=True) for f, stream in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    code = proc.wait()
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    return code


_send_lock = threading.Lock()


def _drain(f, stream: int, sock, tty: bool) -> None:
    """Its output to the client, frame by frame (one sender at a time); once the client has
    left, read on and drop it, so the process never blocks on a full pipe."""
    fd, client = f.fileno(), True
    try:
        while data := os.read(fd, 65536):
            if client:
                try:
                    with _send_lock:
                        sock.sendall(data if tty else frame(stream, data))
                except OSError:
                    client = False
    finally:
        f.close()


def _feed(sock, f, already: bytes) -> None:
    try:
        if already:
            f.write(already)
            f.flush()
        while data := sock.recv(65536):
            f.write(data)
            f.flush()
    except OSError:
        pass
    finally:
        try:
            f.close()
        except OSError:
            pass


def json_line(obj) -> bytes:
    import json
    return json.dumps(obj).encode() + b"\n"
