"""/images/...: engine/service/images.py behind docker's requests; pull and push progress as
docker's JSON messages."""
import json
import os
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
    from runtime.api.shared import shared
    args = dict(all=req.flag("all"), filters=req.filters())
    return shared(("images", req.root, repr(sorted(args.items()))), lambda: service.summaries(req.root, **args))


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
    if not name and req.arg("fromSrc"):
        return _import(req)
    if not name:
        raise InvalidArgument("fromImage or fromSrc is required")
    tag_ = req.arg("tag")
    if tag_ and "@" not in name:
        name = f"{name}{'@' if tag_.startswith('sha256:') else ':'}{tag_}"
    platform = req.arg("platform") or "linux/amd64"
    from runtime.image.reference import parse
    parse(name)  # a bad reference is a 400, not a stream

    def produce(write):
        progress = JSONProgress(write)
        with _credentials(req, name) as config_dir:
            shown = service.pull(req.root, name, platform, config_dir, progress)
        progress.line(f"Status: Downloaded newer image for {shown}")
    return Stream("application/json", produce)


def push(req):
    name = req.params["name"]
    if req.arg("tag"):
        name = f"{name}:{req.arg('tag')}"

    def produce(write):
        progress = JSONProgress(write)
        with _credentials(req, name) as config_dir:
            digest = service.push(req.root, name, config_dir, progress)
        tag_ = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
        write(json.dumps({"status": f"{tag_}: digest: {digest}"}).encode() + b"\r\n")
        write(json.dumps({"progressDetail": {}, "aux": {"Tag": tag_, "Digest": digest}}).encode() + b"\r\n")
    return Stream("application/json", produce)


def _import(req):
    """?fromSrc=-: the body is a root filesystem tar (docker import); a URL source is refused."""
    if req.arg("fromSrc") != "-":
        raise InvalidArgument("fromSrc: only - (the request body) is supported; hull fetches no URLs")
    repo, tag_ = req.arg("repo"), req.arg("tag")
    ref = (f"{repo}:{tag_}" if tag_ else repo) if repo else None
    changes = [line for text in req.query.get("changes", []) for line in text.splitlines() if line.strip()]
    with _spool(req) as spool:
        image_id = service.import_(req.root, spool.path, ref, changes)
    return Reply(200, json.dumps({"status": image_id}).encode() + b"\r\n", "application/json")


def _spool(req):
    """The request body to a file of the store's tmp/ (archives are read out of order): a Spool."""
    spool = service.Spool(req.root, "api-")
    try:
        with open(spool.path, "wb") as f:
            for chunk in req.chunks():
                f.write(chunk)
    except BaseException:
        spool.close()
        raise
    return spool


def load(req):
    with _spool(req) as spool:
        loaded = service.load(req.root, spool.path, shown_as="the request body")
    lines = [f"Loaded image: {x.familiar()}\n" if not isinstance(x, str) else f"Loaded image ID: {x}\n" for x in loaded]
    return Reply(200, b"".join(json.dumps({"stream": line}).encode() + b"\r\n" for line in lines), "application/json")


def get(req):
    """docker save: the images (one in the path, or ?names=...) as a docker-archive, streamed."""
    names = [req.params["name"]] if req.params.get("name") else [n for n in req.query.get("names", []) if n]
    if not names:
        raise InvalidArgument("no image names given (?names=)")
    spool = service.Spool(req.root, "api-save-")
    try:
        service.save(req.root, names, spool.path)
    except BaseException:
        spool.close()
        raise

    def produce(write):
        with spool:
            with open(spool.path, "rb") as f:
                while chunk := f.read(1 << 20):
                    write(chunk)
    return Stream("application/x-tar", produce)


class _credentials:
    """The service's client configuration, with the X-Registry-Auth header's credentials (base64url
    JSON: username, password, serveraddress) added for this request only: a private copy, removed after."""

    def __init__(self, req, image: str):
        self.req, self.image, self.tmp = req, image, None

    def __enter__(self) -> str | None:
        import base64
        import tempfile
        from runtime.image.config import Config, login_server
        header = self.req.headers.get("x-registry-auth") or ""
        try:
            auth = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))) if header else {}
        except ValueError:
            raise InvalidArgument("invalid X-Registry-Auth header: base64url-encoded JSON expected") from None
        if not isinstance(auth, dict) or not auth.get("username"):
            return self.req.server.config_dir
        data = dict(Config(self.req.server.config_dir).data)
        token = base64.b64encode(f"{auth['username']}:{auth.get('password') or ''}".encode()).decode()
        from runtime.image.reference import parse
        server = login_server(auth["serveraddress"]) if auth.get("serveraddress") else parse(self.image).domain
        data["auths"] = {**(data.get("auths") or {}), server: {"auth": token}}
        self.tmp = tempfile.mkdtemp(prefix="hull-auth-")
        fd = os.open(os.path.join(self.tmp, "config.json"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        return self.tmp

    def __exit__(self, *exc) -> None:
        if self.tmp:
            import shutil
            shutil.rmtree(self.tmp, ignore_errors=True)


def search(req):
    return Reply(501, {"message": "image search is not available: hull has no registry search (docker.io's needs the internet)"})


ROUTES = [("GET", "/images/json", list_), ("POST", "/images/create", create), ("POST", "/images/prune", prune),
          ("GET", "/images/search", search), ("POST", "/images/load", load), ("GET", "/images/get", get),
          ("GET", "/images/{name:.+}/get", get),
          ("GET", "/images/{name:.+}/json", inspect), ("GET", "/images/{name:.+}/history", history),
          ("POST", "/images/{name:.+}/tag", tag), ("POST", "/images/{name:.+}/push", push),
          ("DELETE", "/images/{name:.+}", remove)]
