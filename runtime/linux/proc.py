"""Processes as the kernel sees them: /proc/PID/stat, pidfds, the subreaper bit.

A PID alone is not an identity (PIDs are reused), so hull records the start time of a container's
init from /proc/PID/stat and compares it before trusting the PID again; signals then go through a
pidfd, which can never reach a recycled process.
"""
import os
import _signal as signal  # the C module under signal: its enum wrappers cost ~3 ms of imports


def stat_fields(pid: int) -> list | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, ...]; None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name may contain spaces and ')' - split after its last ')'
    return data[data.rindex(b")") + 2:].decode().split()


def name(pid: int) -> str | None:
    """The process name (/proc/PID/comm): the executable's, or what prctl(PR_SET_NAME) set."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().rstrip(b"\n").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None


def start_time(pid: int) -> int | None:
    fields = stat_fields(pid)
    return int(fields[19]) if fields else None  # field 22 of proc(5): starttime in clock ticks


def is_alive(pid: int, started: int | None) -> bool:
    """True if PID runs (not a zombie) and is the same process we started (same start time)."""
    if not pid:
        return False
    fields = stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return started is None or int(fields[19]) == started


def open_pidfd(pid: int, started: int | None) -> int | None:
    """A pidfd for PID if it is still the process we know, else None."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    # check after opening: the pidfd pins this process, so the check cannot race with reuse
    if not is_alive(pid, started):
        os.close(fd)
        return None
    return fd


def signal_pidfd(pidfd: int, sig: int) -> None:
    signal.pidfd_send_signal(pidfd, sig)


def wait_pidfd(pidfd: int, timeout: float | None) -> bool:
    """Wait until the process behind pidfd exits; False on timeout."""
    from runtime.linux import poll
    return bool(poll.readable([pidfd], timeout))


PF_EXITING = 0x4


def exiting(pidfd: int) -> bool:
    """Has the process behind pidfd begun its exit? (The init of a pid namespace stays in its
    exit until every process of the namespace is reaped by its parent, perhaps a host init that
    reaps late: its exit is certain from here, and nothing to wait for.)"""
    try:
        with open(f"/proc/self/fdinfo/{pidfd}") as f:
            pid = next(int(line.split()[1]) for line in f if line.startswith("Pid:"))
    except (OSError, StopIteration, ValueError):
        return True
    fields = stat_fields(pid)
    return fields is None or pid <= 0 or bool(int(fields[6]) & PF_EXITING)


def exit_code(status: int) -> int:
    """waitpid status -> shell-style exit code (128+N for a signal)."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def namespace_id(pid: int | str, kind: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def pids_in_pid_namespace(ns: str) -> list:
    """Host PIDs of every process whose pid namespace is `ns` (a /proc/PID/ns/pid link text)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and namespace_id(entry, "pid") == ns:
            pids.append(int(entry))
    return pids


def reset_signals() -> None:
    """What runc's processes start with: no signal ignored, none blocked. The interpreter ignores
    SIGPIPE and SIGXFSZ (and a detached parent may ignore SIGHUP and SIGINT); an ignored signal
    stays ignored across execve, so `yes | head` would leave yes spinning. Called just before it."""
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # numbers the C library keeps for itself (32, 33)
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
    except OSError:
        pass  # a seccomp profile that refuses rt_sigprocmask: the mask stays as inherited (empty here)
