"""Networks, as docker's API answers for them (see service/__init__.py): bridge networks of
runtime/network, plus the built-in host and none that docker lists too."""
import zlib

from runtime.engine import events
from runtime.errors import Conflict, InvalidArgument, NotFound

BUILTIN = {"host": "host", "none": "null"}  # name -> driver


def _nets(root: str):
    from runtime.network.networks import Networks
    return Networks(root)


def _builtin_id(name: str) -> str:
    """A stable ID for host and none (docker shows some)."""
    return f"{zlib.crc32(name.encode()):08x}" * 8


def create(root: str, body: dict) -> dict:
    """POST /networks/create: {"Id", "Warning"}."""
    if body.get("Driver") not in (None, "", "bridge"):
        raise InvalidArgument(f"network driver {body['Driver']!r} is not available (bridge)")
    config = ((body.get("IPAM") or {}).get("Config") or [{}])[0]
    net = _nets(root).create(body.get("Name") or "", config.get("Subnet"), config.get("Gateway"),
                             bool(body.get("Internal")), body.get("Labels") or {})
    events.emit(root, "network", "create", net["Id"], {"name": net["Name"], "type": "bridge"})
    return {"Id": net["Id"], "Warning": ""}


def _view(net: dict) -> dict:
    """docker's Network object."""
    return {"Name": net["Name"], "Id": net["Id"], "Created": net["Created"], "Scope": "local", "Driver": "bridge",
            "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": {},
                                          "Config": [{"Subnet": net["Subnet"], "Gateway": net["Gateway"]}]},
            "Internal": net["Internal"], "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": {cid: {"Name": e["Name"], "EndpointID": e["EndpointID"], "MacAddress": e["MacAddress"],
                                 "IPv4Address": f"{e['IPv4Address']}/{e['PrefixLen']}", "IPv6Address": ""}
                           for cid, e in net["Endpoints"].items()},
            "Options": {"com.docker.network.bridge.name": net["Bridge"]}, "Labels": net["Labels"]}


def _builtin_view(name: str) -> dict:
    return {"Name": name, "Id": _builtin_id(name), "Created": "0001-01-01T00:00:00Z", "Scope": "local",
            "Driver": BUILTIN[name], "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None, "Config": []},
            "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Containers": {}, "Options": {}, "Labels": {}}


def summaries(root: str) -> list:
    """GET /networks: every network, by name (the default bridge is always there, as docker0 is)."""
    nets = _nets(root)
    nets.load("bridge")
    out = [_view(nets.load(name)) for name in nets.names()] + [_builtin_view(n) for n in BUILTIN]
    return sorted(out, key=lambda n: n["Name"])


def inspect(root: str, ref: str) -> dict:
    """GET /networks/{id}."""
    if ref in BUILTIN:
        return _builtin_view(ref)
    try:
        return _view(_nets(root).find(ref))
    except NotFound:
        for name in BUILTIN:
            if ref and _builtin_id(name).startswith(ref):
                return _builtin_view(name)
        raise


def remove(root: str, ref: str) -> None:
    """DELETE /networks/{id}: a network no container is on; its bridge and firewall chain go too."""
    if ref in BUILTIN:
        raise Conflict(f"{ref} is a pre-defined network and cannot be removed")
    nets = _nets(root)
    drop(root, nets.remove(nets.find(ref)["Name"]))


def drop(root: str, net: dict) -> None:
    """A removed network's bridge and firewall chain go with it (the default one stays, as docker0)."""
    from runtime.network import endpoint, firewall, netlink
    firewall.remove_network(endpoint.table_for(root), net["Bridge"], net["Subnet"])
    try:
        netlink.remove_link(net["Bridge"])
    except OSError:
        pass
    events.emit(root, "network", "destroy", net["Id"], {"name": net["Name"], "type": "bridge"})


def prune(root: str) -> dict:
    """POST /networks/prune: {"NetworksDeleted": [names]}, every user network no container is on."""
    nets, gone = _nets(root), []
    for name in nets.names():
        if name == "bridge":
            continue
        try:
            drop(root, nets.remove(name))
            gone.append(name)
        except Conflict:
            continue
    return {"NetworksDeleted": gone}


def connect(root: str, ref: str, body: dict) -> None:
    """POST /networks/{id}/connect: {"Container", "EndpointConfig": {"Aliases", "IPAMConfig":
    {"IPv4Address"}}}; a running container is put on it at once, a stopped one when it starts."""
    from runtime.engine import runner
    from runtime.engine.containers import Containers
    from runtime.network import endpoint, netlink, ports
    net = _nets(root).find(ref)
    config = body.get("EndpointConfig") or {}
    opts = {"Aliases": list(config.get("Aliases") or []),
            "IPAddress": (config.get("IPAMConfig") or {}).get("IPv4Address") or None}
    with Containers(root).get(body.get("Container") or "") as c:
        attached = c.state.get("Network") or []
        if any(a["network"] == net["Name"] for a in attached) or net["Name"] in (c.config.get("Networks") or {}):
            raise Conflict(f"endpoint with name {c.name} already exists in network {net['Name']}")
        c.config.setdefault("Networks", {})[net["Name"]] = opts
        if c.config.pop("Unplugged", False) and c.config["HostConfig"].get("NetworkMode") == "none":
            c.config["HostConfig"]["NetworkMode"] = net["Name"]  # (compose disconnects, then connects with aliases)
        if c.init_alive():
            agent = netlink.Agent(in_process=True)
            a = endpoint.connect(c, c.state["Pid"], agent, net["Name"], opts["Aliases"], opts["IPAddress"], [],
                                 ports.Reservation(), runner.endpoint_alive(root), index=len(attached))
            c.state["Network"] = attached + [a]
            c.save_state()
        c.save_config()
    events.emit(root, "network", "connect", net["Id"], {"container": c.id, "name": net["Name"], "type": "bridge"})
    if runner.needs_dns(c):
        from runtime.engine import monitor
        monitor.request(root, op="dns")


def disconnect(root: str, ref: str, body: dict) -> None:
    """POST /networks/{id}/disconnect: {"Container", "Force"}."""
    from runtime.engine.containers import Containers
    from runtime.network import endpoint, netlink
    net = _nets(root).find(ref)
    with Containers(root).get(body.get("Container") or "") as c:
        attached = c.state.get("Network") or []
        mine = [i for i, a in enumerate(attached) if a["network"] == net["Name"]]
        configured = net["Name"] in (c.config.get("Networks") or {}) or \
            c.config["HostConfig"].get("NetworkMode") == net["Name"]
        if not mine and not configured:
            raise Conflict(f"container {c.name} is not connected to network {net['Name']}")
        (c.config.get("Networks") or {}).pop(net["Name"], None)
        if c.config["HostConfig"].get("NetworkMode") == net["Name"]:
            c.config["HostConfig"]["NetworkMode"] = "none"
            c.config["Unplugged"] = True  # no network left: the next connect is its first again
        for i in mine:
            try:
                netlink.remove_link(endpoint.host_if(c.id, i))
            except OSError:
                pass
            endpoint.disconnect(root, c.id, attached[i])
        c.state["Network"] = [a for i, a in enumerate(attached) if i not in mine]
        c.save_state()
        c.save_config()
    events.emit(root, "network", "disconnect", net["Id"], {"container": c.id, "name": net["Name"], "type": "bridge"})


