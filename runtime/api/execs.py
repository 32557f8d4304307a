"""/containers/{id}/exec and /exec/{id}/...: engine/service/execs.py behind docker's requests."""
from runtime.api import streams
from runtime.api.server import Hijack, Reply
from runtime.engine.service import execs as service


def create(req):
    return Reply(201, service.create(req.root, req.params["id"], req.json(required=True)))


def start(req):
    body = req.json()
    exec_id = req.params["id"]
    record = service.inspect(req.root, exec_id)
    if body.get("Detach"):
        proc = service.start(req.root, exec_id, attached=False)
        import threading
        threading.Thread(target=proc.wait, daemon=True).start()  # reaped; the child records the exit
        return Reply(200, b"", "text/plain")
    tty = record["ProcessConfig"]["tty"]
    proc = service.start(req.root, exec_id, attached=True)

    def run(sock, already):
        try:
            streams.relay_process(proc, sock, already, tty, record["OpenStdin"])
        finally:
            if getattr(proc, "terminal", None) is not None:
                proc.terminal.close()
            proc.wait()
    return Hijack(streams.content_type(tty, req), run)


def inspect(req):
    return service.inspect(req.root, req.params["id"])


def resize(req):
    service.resize(req.root, req.params["id"], req.int("h", 0), req.int("w", 0))
    return Reply(200, b"", "text/plain")


ROUTES = [("POST", "/containers/{id}/exec", create), ("POST", "/exec/{id}/start", start),
          ("GET", "/exec/{id}/json", inspect), ("POST", "/exec/{id}/resize", resize)]
