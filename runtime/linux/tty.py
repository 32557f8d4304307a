"""Terminals: the container's pty, handing its master to the caller, and proxying it.

runc's console-socket protocol: the runtime connects to a unix socket the caller listens on and sends
the pty master with SCM_RIGHTS (the payload is the pty's name). The caller (conmon, containerd's
shim, or `hull-oci run` itself) then owns the terminal.
"""
import fcntl
import os
import socket
import struct
import termios


def open_pty() -> tuple[int, int, str]:
    """A new pty from the current /dev/ptmx (inside the container: its own devpts)."""
    master, slave = os.openpty()
    return master, slave, os.ttyname(slave)


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_winsize(fd: int) -> tuple[int, int] | None:
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
        return rows, cols
    except OSError:
        return None


def make_controlling(slave: int) -> None:
    """Become a session leader with `slave` as controlling terminal and as stdin/out/err."""
    try:
        os.setsid()
    except PermissionError:
        pass  # already a session leader
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)


def connect_console_socket(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise OSError(e.errno, f"connect console socket {path!r}: {e.strerror}") from None
    return s


def send_fd(sock: socket.socket, fd: int, name: str) -> None:
    socket.send_fds(sock, [name.encode()], [fd])


def recv_fd(sock: socket.socket) -> int:
    _, fds, _, _ = socket.recv_fds(sock, 4096, 1)
    if not fds:
        raise OSError("console socket: no file descriptor received")
    return fds[0]


def proxy(master: int, stop_fd: int) -> None:
    """Copy our stdin to the pty and the pty to our stdout until the pty closes or stop_fd is readable.

    Our own terminal (if stdin is one) is put in raw mode meanwhile so keys reach the container as typed.
    """
    from runtime.linux import poll
    import tty
    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        size = get_winsize(0)
        if size:
            set_winsize(master, *size)
    readers = [master, stop_fd, 0]
    try:
        while True:
            ready = poll.readable(readers)
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every slave fd is closed
                    data = b""
                if not data:
                    return
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    readers.remove(0)  # stdin at EOF: keep showing output
            if stop_fd in ready:
                # the container exited; drain what it wrote last
                while poll.readable([master], 0):
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        return
                    if not data:
                        return
                    os.write(1, data)
                return
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
