"""Engine work for a long-lived, threaded caller (the API service), run in a child process: the
copy, export and exec code forks, chroots and waits for children, which a threaded process must
not do. spawn("module:function", args) runs it with the pipes asked for; finish() gives what the
function returned, or raises its error with its kind (errors.to_wire, on the child's stderr)."""
import subprocess
import sys

from runtime import fastjson as json


def spawn(target: str, args: list, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL):
    code = (f"import sys; sys.path[:0] = {sys.path!r}; from runtime.engine.service.child import _main; "
            f"_main({target!r}, {json.dumps(args)!r})")
    return subprocess.Popen([sys.executable, "-I", "-S", "-c", code], stdin=stdin, stdout=stdout,
                            stderr=subprocess.PIPE, close_fds=True)


def finish(proc):
    """Wait for the child; what its function returned (or its error, raised)."""
    from runtime.errors import HullError, from_wire
    said = proc.stderr.read()
    proc.stderr.close()
    proc.wait()
    lines = said.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        raise HullError(f"the engine's child ended without a result (status {proc.returncode}): {said[-200:]!r}")
    if "error" in result:
        raise from_wire(result)
    return result.get("ok")


def run(target: str, args: list):
    """spawn() and finish(), for a call with no streams."""
    return finish(spawn(target, args))


def _main(target: str, args_text: str) -> None:
    import importlib
    import os
    from runtime.errors import HullError, to_wire
    module, _, name = target.partition(":")
    try:
        result = {"ok": getattr(importlib.import_module(module), name)(*json.loads(args_text))}
    except Exception as e:  # noqa: BLE001 - the caller gets every failure, with its kind
        result = to_wire(e if isinstance(e, (HullError, OSError)) else HullError(f"{type(e).__name__}: {e}"))
    sys.stdout.flush()
    os.write(2, b"\n" + json.dumps(result).encode() + b"\n")
    os._exit(0 if "ok" in result else 1)
