"""/volumes: engine/service/volumes.py behind docker's requests."""
from runtime.api.server import Reply
from runtime.engine.service import volumes as service


def list_(req):
    return service.summaries(req.root, req.filters())


def create(req):
    return Reply(201, service.create(req.root, req.json()))


def inspect(req):
    return service.inspect(req.root, req.params["name"])


def remove(req):
    service.remove(req.root, req.params["name"], force=req.flag("force"))


def prune(req):
    return service.prune(req.root)


ROUTES = [("GET", "/volumes", list_), ("POST", "/volumes/create", create), ("POST", "/volumes/prune", prune),
          ("GET", "/volumes/{name}", inspect), ("DELETE", "/volumes/{name}", remove)]
