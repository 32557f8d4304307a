"""OCI hooks: run each with the container's state JSON on stdin, honouring its timeout.

Where each kind runs (runtime spec, "Lifecycle"):
  prestart, createRuntime   by `create`, in the runtime's namespaces, after the container's exist
  createContainer           by the init, in the container's namespaces, before pivot_root
  startContainer            by the init, in the container, after `start`, before the user process
  poststart                 by `start`, after the user process started
  poststop                  by `delete`, after the container is gone
"""

from runtime import fastjson as json  # json without its imports (see fastjson)
from runtime import trace
from runtime.errors import HookFailed


def run(kind: str, hooks: list, state: dict, fatal: bool = True) -> None:
    """Run every hook of `kind` in order; the first failure raises HookFailed. Not fatal (poststart,
    poststop: the spec's "MUST log a warning"): each failure is a warning and the rest still run."""
    if not hooks:
        return
    data = json.dumps(state).encode()
    for i, hook in enumerate(hooks):
        trace.note(f"{kind} hook {i}: {hook.path} {(hook.args or [hook.path])[1:]}")
        try:
            _run_one(kind, hook, data)
        except HookFailed as e:
            if fatal:
                raise
            trace.warn(str(e))


def _run_one(kind: str, hook, data: bytes) -> None:
    import subprocess  # only containers with hooks pay for importing it
    env = dict(e.split("=", 1) for e in hook.env)
    try:
        p = subprocess.run(hook.args or [hook.path], executable=hook.path, input=data, env=env, timeout=hook.timeout,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except subprocess.TimeoutExpired:
        raise HookFailed(f"{kind} hook {hook.path} timed out after {hook.timeout}s") from None
    except OSError as e:
        raise HookFailed(f"{kind} hook {hook.path}: {e.strerror}") from None
    if p.returncode != 0:
        out = p.stdout.decode(errors="replace").strip()
        raise HookFailed(f"{kind} hook {hook.path} exited with status {p.returncode}" + (f": {out}" if out else ""))
