"""/_ping, /version, /info, /system/df, /events: docker's answers from engine/service/system.py."""
import json

from runtime.api.server import Reply, Stream
from runtime.engine.service import system as service


def ping(req):
    headers = [("Cache-Control", "no-cache, no-store, must-revalidate"), ("Pragma", "no-cache"),
               ("Builder-Version", "1"), ("Swarm", "inactive")]
    return Reply(200, b"" if req.method == "HEAD" else b"OK", "text/plain; charset=utf-8", headers)


def version(req):
    return service.version()


def info(req):
    out = service.info(req.root)
    return {"Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file"]},
            "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": False}, "SecurityOptions": ["name=seccomp,profile=default"],
            "IndexServerAddress": "https://index.docker.io/v1/", "RegistryConfig": {"IndexConfigs": {}},
            "Labels": [], "Warnings": [], "ExperimentalBuild": False, "Debug": False, "NFd": 0, "NGoroutines": 0,
            "SystemTime": _now(), "MemoryLimit": True, "SwapLimit": True, "OomKillDisable": False,
            "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True, "PidsLimit": True,
            **out}


def _now() -> str:
    from runtime.clock import now_rfc3339
    return now_rfc3339()


def df(req):
    return service.df(req.root)


def events(req):
    """A stream of JSON messages, one per line, as they happen (since/until: Unix times)."""
    since, until = _time(req, "since"), _time(req, "until")
    stream = service.events(req.root, since, until, req.filters(), give_up=req.gone)

    def produce(write):
        for e in stream:
            write(json.dumps(e).encode() + b"\n")
    return Stream("application/json", produce)


def _time(req, name: str):
    value = req.arg(name)
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        from runtime.clock import parse_time
        t = parse_time(value)
        if t is None:
            from runtime.errors import InvalidArgument
            raise InvalidArgument(f"invalid {name} {value!r}: a Unix time or RFC 3339") from None
        return t


def auth(req):
    from runtime.engine.service import images
    return images.auth(req.json(required=True), req.server.config_dir)


ROUTES = [("POST", "/auth", auth),("GET", "/_ping", ping), ("GET", "/version", version), ("GET", "/info", info),
          ("GET", "/system/df", df), ("GET", "/events", events)]
