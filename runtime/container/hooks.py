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


def run(kind: str, hooks: list, state: dict) -> None:
    """Run every hook of `kind` in order; the first failure raises HookFailed."""
    if not hooks:
        return
    import subprocess  # only containers with hooks pay for importing it
    data = json.dumps(state).encode()
    for i, hook in enumerate(hooks):
        argv = hook.args or [hook.path]
        env = dict(e.split("=", 1) for e in hook.env)
        trace.note(f"{kind} hook {i}: {hook.path} {argv[1:]}")
        try:
            p = subprocess.run(argv, executable=hook.path, input=data, env=env, timeout=hook.timeout,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except subprocess.TimeoutExpired:
            raise HookFailed(f"{kind} hook {hook.path} timed out after {hook.timeout}s") from None
        except OSError as e:
            raise HookFailed(f"{kind} hook {hook.path}: {e.strerror}") from None
        if p.returncode != 0:
            out = p.stdout.decode(errors="replace").strip()
            raise HookFailed(f"{kind} hook {hook.path} exited with status {p.returncode}"
                             + (f": {out}" if out else ""))
