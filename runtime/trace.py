"""--trace: the flag, and the calls that narrate a step when it is on.

Off (the default) this module is all that loads, and each traced call costs one attribute check:
the formatting and the sink live in runtime/tracing.py, imported on the first traced line.
On with `hull --trace`, `hull-oci --trace` or HULL_TRACE=1 (HULL_TRACE=json: one JSON object a line).
"""
import os

enabled = bool(os.environ.get("HULL_TRACE"))


def enable(mode: str = "text") -> None:
    """Trace this process and what it starts (children inherit HULL_TRACE and the clock's zero)."""
    global enabled
    from runtime import tracing
    tracing.begin(mode)
    enabled = True


def emit(call: str, result: str, started: float, see: str | None = None, kind: str = "syscall") -> None:
    """One finished step: call = result, timed from started (time.perf_counter())."""
    from runtime import tracing
    tracing.line(kind, call, result, started, see)


def note(msg: str, see: str | None = None, kind: str = "note") -> None:
    if enabled:
        from runtime import tracing
        tracing.line(kind, msg, None, None, see)


# Warnings: something the user asked for is accepted but not done (a v2-only limit on a v1 host).
# The CLI adds its --log writer here so engines see them in their log file too.
warning_sinks = []
program = "hull-oci"


def warn(msg: str) -> None:
    import sys
    sys.stderr.write(f"{program}: warning: {msg}\n")
    for sink in warning_sinks:
        sink(msg)
