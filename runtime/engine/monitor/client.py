"""The client side of the monitor: what hull's commands call. A monitor starts on demand."""
import os
import socket
import sys
import time

from runtime.engine.monitor.protocol import paths, read_reply, send_request


def connect(root: str, timeout: float = 15) -> socket.socket:
    """A connection to the root's monitor, starting one if none answers."""
    sock_path, _ = paths(root)
    deadline, spawned = time.monotonic() + timeout, None
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.connect(sock_path)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
        if time.monotonic() > deadline:
            raise OSError(110, f"the hull monitor for {root} did not start (see {root}/run/monitor.log)")
        if spawned is None or spawned.poll() is not None:
            spawned = _spawn(root)  # again if the last one gave way to an exiting monitor
        time.sleep(0.01)


def _spawn(root: str):
    import subprocess
    os.makedirs(os.path.join(root, "run"), mode=0o700, exist_ok=True)
    code = f"import sys; sys.path[:0] = {sys.path!r}; from runtime.engine.monitor.keeper import keeper; keeper({root!r})"
    with open(os.path.join(root, "run", "monitor.log"), "ab") as log:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HULL_TRACE")}  # traced per request only
        return subprocess.Popen([sys.executable, "-I", "-S", "-c", code], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, start_new_session=True, close_fds=True, env=env)


def warm(root: str) -> None:
    """Start the root's monitor now if none runs, without waiting for it: it loads while the
    caller does other work (a container's create), and answers when connect() comes."""
    sock_path, _ = paths(root)
    if not os.path.exists(sock_path):
        _spawn(root)


def adopt_terminal(root: str, master: int) -> None:
    """Give the monitor a pty master to read (and discard) until the process on it ends: what
    `hull exec -it` leaves behind when its detach keys are typed."""
    from runtime.linux import tty
    with connect(root) as s:
        send_request(s, {"op": "adopt"})
        read_reply(s)  # ready: the fd goes in a message of its own
        tty.send_fd(s, master, "pty")
        reply = read_reply(s)
    if "error" in reply:
        from runtime.errors import from_wire
        raise from_wire(reply)


def request(root: str, **msg) -> dict:
    with connect(root) as s:
        send_request(s, msg)
        return read_reply(s)


def call(root: str, **msg) -> dict:
    """request(), with a failure raised as the error of its kind (errors.from_wire)."""
    reply = request(root, **msg)
    if "error" in reply:
        from runtime.errors import from_wire
        raise from_wire(reply)
    return reply


class NetlinkClient:
    """netlink.Agent's interface, served by the root's monitor: it keeps pyroute2 loaded (~100 ms
    to import), so back-to-back foreground runs on a bridge do not each pay for it. Asking for it
    starts the monitor if none runs (it then stays until it has nothing to watch)."""

    def __init__(self, root: str):
        self.root = root
        warm(root)  # it starts while the caller does its other work

    def call(self, fn: str, **args):
        return call(self.root, op="netlink", fn=fn, args=args)["ok"]

    def close(self) -> None:
        pass
