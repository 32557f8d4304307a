"""/containers/...: docker's requests decoded into engine/service/containers.py calls."""
import json

from runtime.api import streams
from runtime.api.server import Hijack, Reply, Stream
from runtime.engine.service import containers as service
from runtime.errors import InvalidArgument, NotModified


def _id(req) -> str:
    return req.params["id"]


def list_(req):
    from runtime.api.shared import shared
    args = dict(all=req.flag("all"), limit=req.int("limit", -1), filters=req.filters(), size=req.flag("size"))
    return shared(("containers", req.root, repr(sorted(args.items()))), lambda: service.summaries(req.root, **args))


def create(req):
    body = req.json(required=True)
    if "HostConfig" in body and not isinstance(body["HostConfig"] or {}, dict):
        raise InvalidArgument("HostConfig must be an object")
    return Reply(201, service.create(req.root, body, req.arg("name") or None))


def inspect(req):
    return service.inspect(req.root, _id(req), size=req.flag("size"))


def start(req):
    try:
        service.start(req.root, _id(req))
    except NotModified:
        return Reply(304)


def stop(req):
    try:
        service.stop(req.root, _id(req), req.int("t"), req.arg("signal") or None)
    except NotModified:
        return Reply(304)


def restart(req):
    service.restart(req.root, _id(req), req.int("t"))


def kill(req):
    service.kill(req.root, _id(req), req.arg("signal") or "KILL")


def pause(req):
    service.pause(req.root, _id(req))


def unpause(req):
    service.unpause(req.root, _id(req))


def rename(req):
    name = req.arg("name")
    if not name:
        raise InvalidArgument("a new name is required (?name=)")
    service.rename(req.root, _id(req), name)


def update(req):
    return service.update(req.root, _id(req), req.json())


def remove(req):
    service.remove(req.root, _id(req), force=req.flag("force"), volumes=req.flag("v"))


def prune(req):
    return service.prune(req.root)


def changes(req):
    return service.changes(req.root, _id(req))


def top(req):
    args = (req.arg("ps_args") or "").split()
    return service.top(req.root, _id(req), args or None)


def wait(req):
    """The status line goes out at once (docker's CLI starts the container only after it has it);
    the body when the condition is met."""
    service.containers(req.root).get(_id(req))  # a 404 now, before the 200
    condition = req.arg("condition") or "not-running"

    def produce(write):
        result = service.wait(req.root, _id(req), condition, give_up=req.gone)
        if result is not None:
            write(json.dumps(result).encode() + b"\n")
    return Stream("application/json", produce)


def logs(req):
    c = service.containers(req.root).get(_id(req))
    if not req.flag("stdout") and not req.flag("stderr"):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tty = bool(c.config["Config"].get("Tty"))
    tail = req.arg("tail") or "all"
    if tail != "all":
        try:
            tail = max(int(tail), 0)
        except ValueError:
            raise InvalidArgument(f"invalid tail {tail!r}") from None
    else:
        tail = None
    from runtime.api.system import _time
    since, until = _time(req, "since"), _time(req, "until")

    def produce(write):
        quiet = streams.TextOut(lambda _: None, 0, True)
        out = streams.TextOut(write, streams.STDOUT, tty) if req.flag("stdout") else quiet
        err = streams.TextOut(write, streams.STDERR, tty) if req.flag("stderr") else quiet
        service.logs(req.root, c.id, out, err, tail, req.flag("timestamps"), since or None, until or None,
                     req.flag("follow"), req.flag("details"), give_up=req.gone)
    return Stream(streams.content_type(tty, req), produce)


def attach(req):
    c = service.containers(req.root).get(_id(req))
    tty = bool(c.config["Config"].get("Tty"))
    stdin, stdout, stderr = req.flag("stdin"), req.flag("stdout"), req.flag("stderr")
    mon = streams.open_attach(req.root, c.id, stdin)

    def run(sock, already):
        if req.flag("logs"):  # what it printed so far first (docker-py's attach(logs=True), compose's up)
            quiet = streams.TextOut(lambda _: None, 0, True)
            out = streams.TextOut(sock.sendall, streams.STDOUT, tty) if stdout else quiet
            err = streams.TextOut(sock.sendall, streams.STDERR, tty) if stderr else quiet
            service.logs(req.root, c.id, out, err)
        streams.relay_attach(mon, c.id, tty, stdin, stdout, stderr, sock, already)
    return Hijack(streams.content_type(tty, req), run, close=mon.close)


def resize(req):
    c = service.containers(req.root).get(_id(req))
    h, w = req.int("h", 0), req.int("w", 0)
    if c.config["Config"].get("Tty") and h > 0 and w > 0:
        streams.Attached.resize(c.id, h, w)
    return Reply(200, b"", "text/plain")


def stats(req):
    """One sample (stream=false / one-shot) or one a second, in docker's JSON with precpu_stats."""
    import time
    stream = req.flag("stream", True) and not req.flag("one-shot")
    ref = _id(req)

    def produce(write):
        previous = service.stats(req.root, ref)
        if not stream:
            write(json.dumps(previous).encode() + b"\n")
            return
        while not req.gone():
            time.sleep(1)
            current = service.stats(req.root, ref)
            current["precpu_stats"] = previous.get("cpu_stats", {})
            write(json.dumps(current).encode() + b"\n")
            previous = current
    service.containers(req.root).get(ref)
    return Stream("application/json", produce)


def _stat_header(req) -> tuple:
    import base64
    from runtime.engine.service import child
    st = child.run("runtime.engine.service.containers:archive_stat", [req.root, _id(req), req.arg("path") or ""])
    return "X-Docker-Container-Path-Stat", base64.b64encode(json.dumps(st).encode()).decode()


def archive_head(req):
    return Reply(200, b"", "application/x-tar", [_stat_header(req)])


def archive_get(req):
    """docker cp CONTAINER:PATH: the tar streamed as the child makes it."""
    return _tar_from_child(req, "runtime.engine.service.containers:archive_get",
                           [req.root, _id(req), req.arg("path") or ""], [_stat_header(req)])


def archive_put(req):
    """docker cp - CONTAINER:PATH: the body (a tar) streamed into the child that unpacks it."""
    import subprocess
    from runtime.engine.service import child
    service.containers(req.root).get(_id(req))
    proc = child.spawn("runtime.engine.service.containers:archive_put", [req.root, _id(req), req.arg("path") or ""],
                       stdin=subprocess.PIPE)
    try:
        for chunk in req.chunks():
            proc.stdin.write(chunk)
    except BrokenPipeError:
        pass  # it failed: finish() says why
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    child.finish(proc)
    return Reply(200, b"", "text/plain")


def export(req):
    service.containers(req.root).get(_id(req))
    return _tar_from_child(req, "runtime.engine.service.containers:export", [req.root, _id(req)])


def _tar_from_child(req, target: str, args: list, headers=()):
    import os
    import subprocess
    from runtime.engine.service import child
    proc = child.spawn(target, args, stdout=subprocess.PIPE)

    def produce(write):
        try:
            for chunk in iter(lambda: os.read(proc.stdout.fileno(), 1 << 16), b""):
                write(chunk)
        finally:
            proc.stdout.close()
            child.finish(proc)  # (an error after the status line ends the body early: the client sees a short tar)
    return Stream("application/x-tar", produce, headers)


def commit(req):
    from runtime.engine.service import child
    repo, tag = req.arg("repo"), req.arg("tag")
    ref = (f"{repo}:{tag}" if tag else repo) if repo else None
    changes = [line for text in req.query.get("changes", []) for line in text.splitlines() if line.strip()]
    image_id = child.run("runtime.engine.service.containers:commit",
                         [req.root, req.arg("container") or "", ref, req.arg("comment") or "", req.arg("author") or "",
                          changes, req.flag("pause", True)])
    return Reply(201, {"Id": image_id})


ROUTES = [
    ("HEAD", "/containers/{id}/archive", archive_head), ("GET", "/containers/{id}/archive", archive_get),
    ("PUT", "/containers/{id}/archive", archive_put), ("GET", "/containers/{id}/export", export),
    ("POST", "/commit", commit),
    ("GET", "/containers/json", list_), ("POST", "/containers/create", create), ("POST", "/containers/prune", prune),
    ("GET", "/containers/{id}/json", inspect), ("POST", "/containers/{id}/start", start),
    ("POST", "/containers/{id}/stop", stop), ("POST", "/containers/{id}/restart", restart),
    ("POST", "/containers/{id}/kill", kill), ("POST", "/containers/{id}/pause", pause),
    ("POST", "/containers/{id}/unpause", unpause), ("POST", "/containers/{id}/rename", rename),
    ("POST", "/containers/{id}/update", update), ("DELETE", "/containers/{id}", remove),
    ("GET", "/containers/{id}/changes", changes), ("GET", "/containers/{id}/top", top),
    ("POST", "/containers/{id}/wait", wait), ("GET", "/containers/{id}/logs", logs),
    ("POST", "/containers/{id}/attach", attach), ("POST", "/containers/{id}/resize", resize),
    ("GET", "/containers/{id}/stats", stats),
]
