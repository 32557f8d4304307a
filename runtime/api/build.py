"""POST /build: the context tar streamed from the body to a file (never held whole in memory),
the build run by engine/service/build.py in a child, its output as docker's JSON messages:
{"stream": text} lines, {"aux": {"ID": id}} at the end, or {"error", "errorDetail"}."""
import json
import os

from runtime.api.server import Stream
from runtime.engine.service import build as service
from runtime.engine.service import images
from runtime.errors import InvalidArgument


def _json_arg(req, name: str) -> dict:
    text = req.arg(name)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {name}: a JSON object of strings")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def build(req):
    if req.arg("remote"):
        raise InvalidArgument("remote build contexts are not supported: send the context in the body")
    query = {"t": [t for t in req.query.get("t", []) if t], "dockerfile": req.arg("dockerfile") or None,
             "buildargs": _json_arg(req, "buildargs"), "labels": _json_arg(req, "labels"),
             "nocache": req.flag("nocache"), "pull": req.flag("pull"), "target": req.arg("target") or None,
             "q": req.flag("q"), "networkmode": req.arg("networkmode") or None, "platform": req.arg("platform") or None}
    spool = _spool(req)

    def produce(write):
        try:
            proc = service.spawn(req.root, query, spool.path)
            rest = b""
            for chunk in iter(lambda: os.read(proc.stdout.fileno(), 65536), b""):
                *lines, rest = (rest + chunk).split(b"\n")
                for line in lines:  # a message per line, as docker's: clients match a line's end with $
                    write(json.dumps({"stream": line.decode(errors="replace") + "\n"}).encode() + b"\r\n")
            if rest:
                write(json.dumps({"stream": rest.decode(errors="replace")}).encode() + b"\r\n")
            proc.stdout.close()
            image_id = service.finish(proc, spool.path)
            write(json.dumps({"aux": {"ID": image_id}}).encode() + b"\r\n")
        finally:
            spool.close()
    return Stream("application/json", produce)


def _spool(req) -> "images.Spool":
    """The context tar to a file of the store's tmp/, claimed until the build is done."""
    spool = images.Spool(req.root, "build-context-")
    try:
        with open(spool.path, "wb") as f:
            for chunk in req.chunks():
                f.write(chunk)
    except BaseException:
        spool.close()
        raise
    return spool


def prune(req):
    return images.prune_cache(req.root)


ROUTES = [("POST", "/build", build), ("POST", "/build/prune", prune)]
