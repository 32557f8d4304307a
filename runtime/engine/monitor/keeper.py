"""The process a client starts (client._spawn): it makes the monitor's cgroup, runs the monitor in
it as its child, and removes the cgroup when the monitor is gone."""
import fcntl
import os
import sys

from runtime.engine.monitor.loop import Monitor
from runtime.engine.monitor.protocol import paths


def keeper(root: str) -> None:
    """The process the CLI starts: it makes the monitor's cgroup, runs the monitor in it as its
    child, and removes the cgroup when the monitor is gone (a process cannot rmdir its own cgroup)."""
    from runtime import cgroups
    from runtime.cgroups.base import PARENT
    os.umask(0o022)  # what it makes for containers must not depend on who started it; the root is 0700
    # the lock first: of two keepers started at once, the second must not touch the cgroup the
    # first one's monitor lives in (held until the cgroup is gone, by the monitor too after fork)
    lock = os.open(paths(root)[1], os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another monitor serves this root
    cgroup = cgroups.new(f"{PARENT}/@monitor{cgroups.root_tag(os.path.join(root, 'run', 'oci'))}")
    try:
        cgroup.create()
    except Exception as e:  # noqa: BLE001 - the monitor works without one
        sys.stderr.write(f"hull monitor: no cgroup of its own: {e}\n")
        cgroup = None
    pid = os.fork()
    if pid == 0:
        try:
            if cgroup is not None:
                cgroup.enter()
            Monitor(root).run(lock)
        except BaseException as e:  # noqa: BLE001
            sys.stderr.write(f"hull monitor: {type(e).__name__}: {e}\n")
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)
    os.waitpid(pid, 0)
    if cgroup is not None:
        try:
            cgroup.destroy()
        except Exception as e:  # noqa: BLE001
            sys.stderr.write(f"hull monitor: cgroup left: {e}\n")
