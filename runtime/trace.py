"""--trace: one place that narrates each kernel step (call, arguments, result, milliseconds).

Off by default and then costs one attribute check per call. Enabled by `--trace` or HULL_TRACE=1;
lines go to stderr prefixed with the pid so the parent's and the container init's steps can be told
apart.
"""
import os
import sys
import time

enabled = bool(os.environ.get("HULL_TRACE"))


def enable() -> None:
    global enabled
    enabled = True
    os.environ["HULL_TRACE"] = "1"  # children (hooks, re-exec) inherit it


def emit(call: str, result: str, started: float) -> None:
    ms = (time.perf_counter() - started) * 1000
    sys.stderr.write(f"hull-trace[{os.getpid()}] {call} = {result}  ({ms:.2f} ms)\n")
    sys.stderr.flush()


def note(msg: str) -> None:
    if enabled:
        sys.stderr.write(f"hull-trace[{os.getpid()}] # {msg}\n")
        sys.stderr.flush()


# Warnings: something the user asked for is accepted but not done (a v2-only limit on a v1 host).
# The CLI adds its --log writer here so engines see them in their log file too.
warning_sinks = []
program = "hull-oci"


def warn(msg: str) -> None:
    sys.stderr.write(f"{program}: warning: {msg}\n")
    for sink in warning_sinks:
        sink(msg)
