"""The monitor's wire: one JSON request line, one JSON reply line ({"error", "kind"} on failure,
errors.to_wire), then for attach the frames of a stream: a byte for the stream, four for the length.

    ROOT/run/monitor.sock   requests ({"op": "start", "id": ID}, attach, netlink, dns, ping)
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
