"""/networks: engine/service/networks.py behind docker's requests."""
from runtime.api.server import Reply
from runtime.engine.service import networks as service


def list_(req):
    return service.summaries(req.root)


def create(req):
    return Reply(201, service.create(req.root, req.json(required=True)))


def inspect(req):
    return service.inspect(req.root, req.params["id"])


def remove(req):
    service.remove(req.root, req.params["id"])


def prune(req):
    return service.prune(req.root)


def connect(req):
    service.connect(req.root, req.params["id"], req.json(required=True))
    return Reply(200, b"", "text/plain")


def disconnect(req):
    service.disconnect(req.root, req.params["id"], req.json(required=True))
    return Reply(200, b"", "text/plain")


ROUTES = [("GET", "/networks", list_), ("POST", "/networks/create", create), ("POST", "/networks/prune", prune),
          ("GET", "/networks/{id}", inspect), ("DELETE", "/networks/{id}", remove),
          ("POST", "/networks/{id}/connect", connect), ("POST", "/networks/{id}/disconnect", disconnect)]
