"""The monitor's wire: one JSON request line, one JSON reply line ({"error", "kind"} on failure,
errors.to_wire), then for attach the frames of a stream: a byte for the stream, four for the length.

    ROOT/run/monitor.sock   requests ({"op": "start", "id": ID}, attach, netlink, dns, ping), with
                            the client's trace fd when it traces (SCM_RIGHTS, on the line itself)
    ROOT/run/monitor.lock   held by the one monitor of this root
"""
import os
import socket
import struct

from runtime import fastjson as json

STDIN, STDOUT, STDERR, EXIT, RESIZE = 0, 1, 2, 3, 4


def paths(root: str) -> tuple:
    run = os.path.join(root, "run")
    return os.path.join(run, "monitor.sock"), os.path.join(run, "monitor.lock")


def send_request(s: socket.socket, msg: dict) -> None:
    """The request line. A traced command (--trace) sends its trace's fd along, so what the
    monitor does for it (and the container's init up to execve) is narrated in the same stream."""
    from runtime import trace
    if not trace.enabled:
        s.sendall(json.dumps(msg).encode() + b"\n")
        return
    from runtime import tracing
    msg = {**msg, "trace": {"mode": tracing.mode, "t0": tracing.t0}}
    trace.note(f"monitor request: {msg['op']} {msg.get('id', '')[:12]}".rstrip(), kind="monitor")
    socket.send_fds(s, [json.dumps(msg).encode() + b"\n"], [tracing.sink])


def read_reply(s: socket.socket) -> dict:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1)  # byte by byte: a stream of frames may follow the line
        if not chunk:
            raise OSError(104, "the hull monitor closed the connection")
        buf += chunk
    return json.loads(buf)


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BI", stream, len(data)) + data


def send_frame(s: socket.socket, stream: int, data: bytes) -> None:
    s.sendall(frame(stream, data))


def read_frame(s: socket.socket):
    """(stream, data), or None at the end."""
    head = _exactly(s, 5)
    if head is None:
        return None
    stream, n = struct.unpack(">BI", head)
    data = _exactly(s, n) if n else b""
    return (stream, data) if data is not None else None


def _exactly(s: socket.socket, n: int):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf
