"""Files that several layers write and lock the same way. A leaf module: nothing of hull's below it."""
import fcntl
import os


def write_atomic(path: str, data: str | bytes, tmp_dir: str | None = None, mode: int = 0o644) -> None:
    """Temp file + fsync + rename: readers see the old content or the new, never half. tmp_dir
    (same filesystem) is where a crash may leave the temp file: the image store sweeps its tmp/.
    mode is before the umask, as open(2) takes it."""
    tmp = os.path.join(tmp_dir or os.path.dirname(path) or ".", f"{os.path.basename(path)}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_record(path: str, data: str) -> None:
    """A small record (a container's state) as write_atomic writes it; on a full disk, where not even
    the temp file fits, over the old one in place, padded with blanks to its length, within the
    blocks it has: stopping and removing containers is how space is freed, so they must not need any."""
    try:
        write_atomic(path, data)
    except OSError as e:
        import errno
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raw = data.encode()
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise e from None
        if len(raw) > st.st_blocks * 512:
            raise
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.pwrite(fd, raw.ljust(st.st_size), 0)  # JSON ends at its last brace: the blanks are nothing
            os.fsync(fd)
        finally:
            os.close(fd)


def flock_held(path: str, shared_too: bool = False) -> bool:
    """Does some process hold an exclusive flock on path (a file or a directory; shared_too: or a
    shared one)? A holder that was killed holds nothing: the kernel dropped its lock with its last fd."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if shared_too else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
