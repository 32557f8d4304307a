"""/images/...: engine/service/images.py behind docker's requests; pull and push progress as
docker's JSON messages."""
import json
import re

from runtime.api.server import Reply, Stream
from runtime.engine.service import images as service
from runtime.errors import InvalidArgument


class JSONProgress:
    """transfer.Progress's interface, writing docker's progress messages: {"status", "id"}."""

    def __init__(self, write):
        self.write, self.quiet, self.tty = write, False, False

    def line(self, text: str) -> None:
        m = re.match(r"^([0-9a-f]{12}): (.*)$", text)
        msg = {"status": m.group(2), "id": m.group(1)} if m else {"status": text}
        self.write(json.dumps(msg).encode() + b"\r\n")

    def bar(self, digest: str, verb: str):
        return None


def list_(req):
    return service.summaries(req.root, all=req.flag("all"), filters=req.filters())


def inspect(req):
    return service.inspect(req.root, req.params["name"])


def history(req):
    return service.history(req.root, req.params["name"])


def tag(req):
    repo = req.arg("repo")
    if not repo:
        raise InvalidArgument("repository name must have at least one component (?repo=)")
    tag_ = req.arg("tag")
    service.tag(req.root, req.params["name"], f"{repo}:{tag_}" if tag_ else repo)
    return Reply(201, b"", "text/plain")


def remove(req):
    return service.remove(req.root, req.params["name"], force=req.flag("force"))


def prune(req):
    dangling = req.filters().get("dangling") or ["true"]
    return service.prune(req.root, every=dangling[-1].lower() in ("false", "0"))


def create(req):
    """?fromImage=NAME&tag=TAG: a pull, its progress streamed (the error, if any, as the last message)."""
    name = req.arg("fromImage")
    if not name:
        if req.arg("fromSrc"):
            raise InvalidArgument("fromSrc (image import) is not supported through the API yet")
        raise InvalidArgument("fromImage is required")
    tag_ = req.arg("tag")
    if tag_ and "@" not in name:
        name = f"{name}{'@' if tag_.startswith('sha256:') else ':'}{tag_}"
    platform = req.arg("platform") or "linux/amd64"
    from runtime.image.reference import parse
    parse(name)  # a bad reference is a 400, not a stream

    def produce(write):
        progress = JSONProgress(write)
        shown = service.pull(req.root, name, platform, None, progress)
        progress.line(f"Status: Downloaded newer image for {shown}")
    return Stream("application/json", produce)


def push(req):
    name = req.params["name"]
    if req.arg("tag"):
        name = f"{name}:{req.arg('tag')}"

    def produce(write):
        progress = JSONProgress(write)
        digest = service.push(req.root, name, None, progress)
        tag_ = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
        write(json.dumps({"status": f"{tag_}: digest: {digest}"}).encode() + b"\r\n")
        write(json.dumps({"progressDetail": {}, "aux": {"Tag": tag_, "Digest": digest}}).encode() + b"\r\n")
    return Stream("application/json", produce)


def search(req):
    return Reply(501, {"message": "image search is not available: hull has no registry search (docker.io's needs the internet)"})


ROUTES = [("GET", "/images/json", list_), ("POST", "/images/create", create), ("POST", "/images/prune", prune),
          ("GET", "/images/search", search),
          ("GET", "/images/{name:.+}/json", inspect), ("GET", "/images/{name:.+}/history", history),
          ("POST", "/images/{name:.+}/tag", tag), ("POST", "/images/{name:.+}/push", push),
          ("DELETE", "/images/{name:.+}", remove)]
