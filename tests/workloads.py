"""Mixed engine commands from many clients on one root, for tests/integration/test_scale.py (a
few clients, seconds) and scripts/bench `concurrent` (20 clients, 5 minutes): each client runs,
removes, builds, commits, pulls and removes images under names of its own; one prunes all along. What
may fail is what docker answers as a real conflict between them; anything else is counted as a fault.
"""
import os
import subprocess
import threading
import time

# docker's answers to a real conflict: prune took a stopped container or a dangling image that a
# client was about to use, or two clients raced for the same name (they do not, by construction)
CONFLICTS = ("No such container", "No such image", "is not running", "conflict", "is already in progress")


def push_images(hull, env, registry_addr, clients) -> list:
    """One image a client in the registry (busybox under a name of its own): what it pulls."""
    refs = []
    for i in range(clients):
        ref = f"{registry_addr}/mixed/c{i}:1"
        subprocess.run(hull + ["tag", "busybox", ref], env=env, check=True, capture_output=True)
        subprocess.run(hull + ["push", ref], env=env, check=True, capture_output=True)
        subprocess.run(hull + ["rmi", ref], env=env, check=True, capture_output=True)
        refs.append(ref)
    return refs


def _client(i, hull, env, ref, ctx, until, counts, faults, lock, pruner) -> None:
    def run(what, *args, timeout=120):
        p = subprocess.run(hull + list(args), env=env, capture_output=True, text=True, timeout=timeout)
        with lock:
            counts[what] = counts.get(what, 0) + 1
            if p.returncode and not any(c in p.stderr for c in CONFLICTS):
                faults.append(f"client {i}: hull {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
        return p
    step = 0
    while pruner and time.monotonic() < until:  # the pruner does nothing else
        run("system prune", "system", "prune", "-f")
        time.sleep(0.2)
    while time.monotonic() < until:
        kind = step % 5
        step += 1
        if kind == 0:
            run("run --rm", "run", "--rm", "--network", "none", "busybox", "true")
        elif kind == 1:
            name = f"m{i}-{step}"
            if run("run -d", "run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "100").returncode == 0:
                run("commit", "commit", name, f"mixed/commit{i}:{step}")
                run("rm -f", "rm", "-f", name)
                run("rmi", "rmi", f"mixed/commit{i}:{step}")
        elif kind == 2:
            run("build", "build", "-q", "--network", "none", "--build-arg", f"STEP={i}-{step}", "-t", f"mixed/built{i}", ctx)
        elif kind == 3:
            run("pull", "pull", "-q", ref)
            run("rmi", "rmi", ref)
        elif kind == 4:
            run("ps", "ps", "-a")


def mixed(hull, env, refs, ctx, seconds) -> tuple:
    """len(refs) clients for `seconds`: ({command: count}, [faults])."""
    counts, faults, lock = {}, [], threading.Lock()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=_client, args=(i, hull, env, ref, ctx, until, counts, faults, lock, i == 0))
               for i, ref in enumerate(refs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts, faults


def build_context(path) -> str:
    """A Dockerfile each build changes (its ARG), so every build runs a step and makes a layer."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nARG STEP\nRUN echo $STEP > /step\n")
    return str(path)
