"""`hull explain`: what the kernel holds for running containers (runtime/engine/explain.py reads it)."""
from runtime.engine import explain as kernel
from runtime.engine.service.containers import containers


def explain(root: str, ref: str) -> dict:
    """The kernel's view of a running container: processes, namespaces, cgroup, overlay, mounts,
    security, network (engine/explain.py's dict)."""
    c = containers(root).get(ref)
    with c:
        return kernel.explain(c)


def diff(root: str, a: str, b: str) -> dict:
    """What two running containers share in the kernel and what they do not."""
    return kernel.diff(explain(root, a), explain(root, b))
