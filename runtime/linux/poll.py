"""Waiting for file descriptors with poll(2), never select(2).

select() takes a bitmap of FD_SETSIZE (1024) bits: a process holding more than ~1,000 open files
(the monitor of a few hundred containers, the API service with many clients) gets "filedescriptor
out of range in select()". poll() takes a list, so any descriptor number works.
"""
import errno
import select

_READY = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR


def readable(fds: list, timeout: float | None = None) -> list:
    """Those of fds (ints or objects with fileno()) that are readable, at end of file or in error,
    as select()'s read list would say; waits up to timeout seconds (None: for ever)."""
    p = select.poll()
    by_fd = {}
    for f in fds:
        fd = f if isinstance(f, int) else f.fileno()
        by_fd[fd] = f
        p.register(fd, _READY)
    ready = []
    for fd, events in p.poll(None if timeout is None else int(timeout * 1000)):
        if events & select.POLLNVAL:
            raise OSError(errno.EBADF, f"fd {fd} is not open")
        ready.append(by_fd[fd])
    return ready
