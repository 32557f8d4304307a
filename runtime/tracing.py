"""What --trace writes, and where (runtime/trace.py holds the flag; this loads only when tracing).

A line per step: when (ms since the traced command began: every process of it shares the zero,
passed down in HULL_TRACE_T0), which process, the step and its result, how long it took, and where
to read more. The hull command, the monitor working for it and the container's init write to the
same file descriptor (a close-on-exec copy of the command's stderr: the container's own stdio never
gets it), each line in one write, so they interleave in the order they happened.

    hull-trace +12.3ms pid=4242 unshare(CLONE_NEWNS|CLONE_NEWPID) = 0 (0.04ms)  see unshare(2)
    {"t_ms": 12.3, "pid": 4242, "kind": "syscall", "step": "unshare(...)", "result": "0", ...}
"""
import contextlib
import os
import time

from runtime import fastjson as json, trace

# where each kind of step is explained, when the step's own name is not a man page of section 2
SEE = {"cgroup": "cgroups(7)", "netlink": "rtnetlink(7)", "nft": "nft(8)", "http": "the OCI distribution spec",
       "layer": "the OCI image layer spec", "build": "the Dockerfile reference", "monitor": "runtime/engine/monitor/"}

mode = os.environ.get("HULL_TRACE") or "text"
t0 = float(os.environ.get("HULL_TRACE_T0") or 0) or time.time()
sink = os.dup(2) if trace.enabled else -1  # os.dup's copy is close-on-exec
label = None  # how this process is named in lines when its own pid says too little (a container's init)


def in_new_pid_namespace() -> None:
    """Called by a container's init (pid 1 to itself): name it by its host pid too. /proc is
    still the host's here, so /proc/self is that pid."""
    global label
    try:
        label = f"{os.readlink('/proc/self')}({os.getpid()})"
    except OSError:
        label = None


def begin(how: str) -> None:
    """Start tracing this command: its clock and sink; children inherit both."""
    global mode, t0, sink
    mode = "json" if how == "json" else "text"
    t0 = time.time()
    if sink < 0:
        sink = os.dup(2)
    os.environ.update(HULL_TRACE=mode, HULL_TRACE_T0=repr(t0))


@contextlib.contextmanager
def to(fd: int, how: str, zero: float):
    """Trace to fd while the block runs (the monitor, working for one traced client); what it
    forks meanwhile (the container's init) inherits it."""
    global mode, t0, sink
    saved = trace.enabled, mode, t0, sink
    trace.enabled, mode, t0, sink = True, how, zero, fd
    try:
        yield
    finally:
        trace.enabled, mode, t0, sink = saved


def keep() -> set:
    """The fd a process that closes all others must keep to go on tracing (the setup child)."""
    return {sink} if trace.enabled and sink >= 0 else set()


def line(kind: str, step: str, result, started, see) -> None:
    now = time.perf_counter()
    took = None if started is None else (now - started) * 1000
    if see is None:
        see = f"{step.split('(', 1)[0]}(2)" if kind == "syscall" else SEE.get(kind)
    at = (time.time() - t0) * 1000
    if mode == "json":
        text = json.dumps({"t_ms": round(at, 3), "pid": int(label.split("(")[0]) if label else os.getpid(), "kind": kind, "step": step, "result": result,
                           "took_ms": None if took is None else round(took, 3), "see": see}) + "\n"
    else:
        text = f"hull-trace +{at:.1f}ms pid={label or os.getpid()} {'# ' if result is None else ''}{step}"
        if result is not None:
            text += f" = {result}"
        if took is not None:
            text += f" ({took:.2f}ms)"
        text += f"  see {see}\n" if see else "\n"
    try:
        os.write(sink, text.encode(errors="replace"))
    except OSError:
        pass  # the reader left: the work goes on untraced
