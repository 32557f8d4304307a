"""Small helpers for the peer tests: a terminal for -t, and limits read from the host's cgroups."""
import os
import select
import subprocess
import time


def in_pty(argv: list, env: dict, timeout=30) -> tuple:
    """Run argv with stdin/stdout/stderr on a new pty, as from a terminal: (exit code, output)."""
    master, slave = os.openpty()
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    out, deadline = b"", time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every writer has closed the slave
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    os.close(master)
    rc = p.wait(timeout=max(1, deadline - time.time()))
    return rc, out.decode(errors="replace").replace("\r", "")


def cgroup_file(pid: int, v1_controller: str, v1_name: str, v2_name: str) -> str:
    """The content of a limit file of the cgroup pid is in, v1 or v2 as the host has it."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f]
    for _, controllers, path in lines:
        if v1_controller in controllers.split(","):
            with open(f"/sys/fs/cgroup/{v1_controller}{path}/{v1_name}") as f:
                return f.read().strip()
    path = next(p for h, c, p in lines if h == "0")
    with open(f"/sys/fs/cgroup{path}/{v2_name}") as f:
        return f.read().strip()


def memory_limit(pid: int) -> int:
    value = cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max")
    return int(value)


def cpu_quota(pid: int) -> tuple:
    """(quota, period) in microseconds."""
    quota = cgroup_file(pid, "cpu", "cpu.cfs_quota_us", "cpu.max")
    if " " in quota:  # v2: "QUOTA PERIOD"
        q, period = quota.split()
        return int(q), int(period)
    return int(quota), int(cgroup_file(pid, "cpu", "cpu.cfs_period_us", "cpu.max"))


def wait_for(predicate, timeout=10, interval=0.05):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            return False
        time.sleep(interval)
    return True
