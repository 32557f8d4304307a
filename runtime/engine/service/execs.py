"""Exec instances, as docker's API has them: create one (a record in its container's directory),
start it (attached: a child process whose pipes the caller relays; or detached), inspect it.

    execs.create(root, ref, body)       POST /containers/{id}/exec -> {"Id"}
    execs.start(root, exec_id, attached)  POST /exec/{id}/start   -> the running child (subprocess.Popen)
    execs.inspect(root, exec_id)        GET /exec/{id}/json        -> ExecInspect
    execs.resize(root, exec_id, h, w)   POST /exec/{id}/resize

The process is run by a child of the caller (the same code as `hull exec`), so a long-lived caller
(the API service) never forks from its threads, never becomes a subreaper, and keeps its signals.
"""
import os
import subprocess
import sys

from runtime import fastjson as json
from runtime.engine import events
from runtime.engine.containers import Containers
from runtime.errors import Conflict, InvalidArgument, NotFound
from runtime.files import write_atomic


def _path(c, exec_id: str) -> str:
    return c.path("execs", exec_id + ".json")


def create(root: str, ref: str, body: dict) -> dict:
    from runtime.engine.service.containers import running
    c = running(root, ref)
    cmd = body.get("Cmd")
    if isinstance(cmd, str):
        cmd = [cmd]
    if not cmd or not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd):
        raise InvalidArgument("No exec command specified")
    env = body.get("Env") or []
    if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
        raise InvalidArgument("Env must be a list of KEY=VALUE strings")
    from runtime.engine.attach import detach_bytes
    detach_bytes(body.get("DetachKeys") or "")
    exec_id = os.urandom(32).hex()
    record = {"ID": exec_id, "ContainerID": c.id, "Running": False, "ExitCode": None, "Pid": 0,
              "OpenStdin": bool(body.get("AttachStdin")), "OpenStdout": bool(body.get("AttachStdout", True)),
              "OpenStderr": bool(body.get("AttachStderr", True)), "CanRemove": False,
              "DetachKeys": body.get("DetachKeys") or "",
              "ProcessConfig": {"tty": bool(body.get("Tty")), "entrypoint": cmd[0], "arguments": cmd[1:],
                                "privileged": bool(body.get("Privileged")), "user": body.get("User") or ""},
              "Env": env, "WorkingDir": body.get("WorkingDir") or ""}
    os.makedirs(c.path("execs"), mode=0o700, exist_ok=True)
    size = body.get("ConsoleSize")  # [rows, cols] of the client's terminal (API 1.42)
    if record["ProcessConfig"]["tty"] and isinstance(size, list) and len(size) == 2 and all(
            isinstance(n, int) and 0 < n <= 0xffff for n in size):
        write_atomic(c.path("execs", exec_id + ".size"), f"{size[0]} {size[1]}", mode=0o600)
    write_atomic(_path(c, exec_id), json.dumps(record), mode=0o600)
    events.container(c, f"exec_create: {' '.join(cmd)}", execID=exec_id)
    return {"Id": exec_id}


def _find(root: str, exec_id: str):
    if not exec_id or not all(ch in "0123456789abcdef" for ch in exec_id):
        raise NotFound(f"No such exec instance: {exec_id}")
    for c in Containers(root).all():
        if os.path.exists(_path(c, exec_id)):
            return c
    raise NotFound(f"No such exec instance: {exec_id}")


def inspect(root: str, exec_id: str) -> dict:
    c = _find(root, exec_id)
    with open(_path(c, exec_id), "rb") as f:
        return json.load(f)


def start(root: str, exec_id: str, attached: bool):
    """Run it in a child: attached, its stdin/stdout/stderr are pipes for the caller (one socket
    for stdin and stdout with a terminal); detached, they lead nowhere. The child records the exit."""
    record = inspect(root, exec_id)
    if record["Running"] or record["ExitCode"] is not None:
        raise Conflict(f"Exec {exec_id[:12]} has already run")
    from runtime.engine.service.containers import running
    running(root, record["ContainerID"])
    tty = record["ProcessConfig"]["tty"]
    code = (f"import sys; sys.path[:0] = {sys.path!r}; from runtime.engine.service.execs import child; "
            f"child({root!r}, {exec_id!r}, {attached!r})")
    if not attached:
        io = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elif tty:
        import socket
        ours, theirs = socket.socketpair()
        io = dict(stdin=theirs, stdout=theirs, stderr=subprocess.DEVNULL)
    else:
        io = dict(stdin=subprocess.PIPE if record["OpenStdin"] else subprocess.DEVNULL,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", code], close_fds=True, **io)
    if attached and tty:
        theirs.close()
        proc.stdin = proc.stdout = ours.makefile("rwb", buffering=0)  # (one socket both ways)
        proc.terminal = ours
    return proc


def resize(root: str, exec_id: str, height: int, width: int) -> None:
    """POST /exec/{id}/resize: the size goes to a file beside the record (the child owns the
    record), then the child is told (SIGWINCH) if it still runs: it sizes the exec's terminal."""
    if height <= 0 or width <= 0 or height > 0xffff or width > 0xffff:
        raise InvalidArgument(f"invalid terminal size {height}x{width}")
    c = _find(root, exec_id)
    write_atomic(c.path("execs", exec_id + ".size"), f"{height} {width}", mode=0o600)
    record = inspect(root, exec_id)
    pid = record.get("ChildPid") or 0
    if record["Running"] and pid:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                ours = exec_id.encode() in f.read()  # (never a recycled PID)
            if ours:
                os.kill(pid, 28)  # SIGWINCH
        except (FileNotFoundError, ProcessLookupError):
            pass


def _size(c, exec_id: str):
    try:
        with open(c.path("execs", exec_id + ".size")) as f:
            rows, cols = f.read().split()
        return int(rows), int(cols)
    except (OSError, ValueError):
        return None


def child(root: str, exec_id: str, attached: bool) -> None:
    """The exec's child (see start): run the process as `hull exec` does, record its end."""
    from runtime.engine import attach
    from runtime.errors import HullError
    c = _find(root, exec_id)
    path = _path(c, exec_id)
    with open(path, "rb") as f:
        record = json.load(f)
    record.update(Running=True, ChildPid=os.getpid())
    write_atomic(path, json.dumps(record), mode=0o600)
    pc = record["ProcessConfig"]
    try:
        c.load()
        code = attach.exec_in(c, [pc["entrypoint"], *pc["arguments"]], record["OpenStdin"] and attached, pc["tty"],
                              False, record["Env"], record["WorkingDir"] or None, pc["user"] or None,
                              pc["privileged"], record["DetachKeys"] or "ctrl-p,ctrl-q", exec_id=exec_id,
                              winsize=lambda: _size(c, exec_id))
    except HullError as e:
        os.write(2, f"OCI runtime exec failed: {e.msg}\n".encode())
        code = e.exit_code if e.exit_code in (126, 127) else 126
    record.update(Running=False, ExitCode=code)
    write_atomic(path, json.dumps(record), mode=0o600)
    sys.exit(code & 0xff)
