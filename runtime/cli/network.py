"""hull network create | ls | inspect | rm | prune | connect | disconnect (runtime/network)."""
import sys

from runtime.cli.args import Flag, Verb
from runtime.errors import Conflict, HullError, InvalidArgument

VERBS = [
    Verb("network-create", "create a bridge network", [
        Flag("subnet", value=True, help="CIDR (default: a free one from the pool)"),
        Flag("gateway", value=True, help="the bridge's address (default: the first one)"),
        Flag("internal", help="no way out of the network"), Flag("label", "l", value=True, many=True, help="KEY=VALUE"),
        Flag("driver", "d", value=True, help="bridge (the only one)")], ["name"]),
    Verb("network-ls", "list networks", [Flag("quiet", "q", help="only IDs"), Flag("format", value=True),
                                         Flag("no-trunc", help="full IDs")]),
    Verb("network-inspect", "details of networks as JSON", [Flag("format", "f", value=True)], ["network"],
         rest=True, rest_name="NETWORK..."),
    Verb("network-rm", "remove networks no container is on", [], ["network"], rest=True, rest_name="NETWORK..."),
    Verb("network-prune", "remove every user network no container is on", [Flag("force", "f", help="do not ask")]),
    Verb("network-connect", "put a container on another network", [
        Flag("alias", value=True, many=True, help="another name for it there"),
        Flag("ip", value=True, help="its address there")], ["network", "container"]),
    Verb("network-disconnect", "take a container off a network", [Flag("force", "f")], ["network", "container"]),
]
BUILTIN_ROWS = [("host", "host"), ("none", "null")]


def _nets(args):
    from runtime.network.networks import Networks
    return Networks(args.root)


def cmd_create(args):
    if args.driver not in (None, "bridge"):
        raise InvalidArgument(f"network driver {args.driver!r} is not available (bridge)")
    labels = dict(item.partition("=")[::2] for item in args.label or [])
    net = _nets(args).create(args.name, args.subnet, args.gateway, bool(args.internal), labels)
    print(net["Id"])
    return 0


def _ids():
    """Stable IDs for the built-in host and none networks (docker shows some)."""
    import zlib
    return {name: f"{zlib.crc32(name.encode()):08x}" * 8 for name, _ in BUILTIN_ROWS}


def cmd_ls(args):
    from runtime.cli.template import Struct, format_rows
    nets = _nets(args)
    nets.load("bridge")  # the default one is always there, as docker0 is
    rows = [Struct({"ID": n["Id"] if args.no_trunc else n["Id"][:12], "Name": n["Name"], "Driver": "bridge",
                    "Scope": "local", "Internal": str(n["Internal"]).lower(),
                    "Labels": ",".join(f"{k}={v}" for k, v in n["Labels"].items())})
            for n in (nets.load(name) for name in nets.names())]
    ids = _ids()
    rows += [Struct({"ID": ids[name] if args.no_trunc else ids[name][:12], "Name": name, "Driver": driver,
                     "Scope": "local", "Internal": "false", "Labels": ""}) for name, driver in BUILTIN_ROWS]
    rows.sort(key=lambda r: r["Name"])
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    sys.stdout.write(format_rows(args.format or "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", rows,
                                 {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE"}))
    return 0


def inspect_network(net: dict) -> dict:
    """docker's network inspect object."""
    return {"Name": net["Name"], "Id": net["Id"], "Created": net["Created"], "Scope": "local", "Driver": "bridge",
            "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": {},
                                          "Config": [{"Subnet": net["Subnet"], "Gateway": net["Gateway"]}]},
            "Internal": net["Internal"], "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": {cid: {"Name": e["Name"], "EndpointID": e["EndpointID"], "MacAddress": e["MacAddress"],
                                 "IPv4Address": f"{e['IPv4Address']}/{e['PrefixLen']}", "IPv6Address": ""}
                           for cid, e in net["Endpoints"].items()},
            "Options": {"com.docker.network.bridge.name": net["Bridge"]}, "Labels": net["Labels"]}


def cmd_inspect(args):
    from runtime.cli.images import print_inspect
    nets, out, failed = _nets(args), [], 0
    for ref in [args.network] + args.command:
        try:
            out.append(inspect_network(nets.find(ref)))
        except HullError as e:
            sys.stderr.write(f"Error: {e.msg}\n")
            failed = 125
    if out or not args.format:
        print_inspect(out, args.format)
    return failed


def cmd_rm(args):
    nets, failed = _nets(args), 0
    for ref in [args.network] + args.command:
        try:
            net = nets.find(ref)
            drop(args.root, nets.remove(net["Name"]))
            print(ref)
        except HullError as e:
            sys.stderr.write(f"Error: {e.msg}\n")
            failed = 125
    return failed


def drop(root: str, net: dict) -> None:
    """A removed network's bridge and firewall chain go with it (the default one stays, as docker0)."""
    from runtime.network import endpoint, firewall, netlink
    firewall.remove_network(endpoint.table_for(root), net["Bridge"], net["Subnet"])
    try:
        netlink.remove_link(net["Bridge"])
    except OSError:
        pass


def prune(args) -> list:
    nets, gone = _nets(args), []
    for name in nets.names():
        if name == "bridge":
            continue
        try:
            drop(args.root, nets.remove(name))
            gone.append(name)
        except Conflict:
            continue
    return gone


def cmd_prune(args):
    from runtime.cli.images import confirm
    if not args.force and not confirm("WARNING! This will remove all custom networks not used by at least one "
                                      "container."):
        return 0
    gone = prune(args)
    if gone:
        print("Deleted Networks:\n" + "\n".join(gone))
    return 0


def cmd_connect(args):
    from runtime.engine import runner
    from runtime.engine.containers import Containers
    from runtime.network import netlink
    from runtime.network.networks import Networks
    net = Networks(args.root).find(args.network)
    containers = Containers(args.root)
    with containers.get(args.container) as c:
        attached = c.state.get("Network") or []
        if any(a["network"] == net["Name"] for a in attached) or net["Name"] in (c.config.get("Networks") or {}):
            raise Conflict(f"endpoint with name {c.name} already exists in network {net['Name']}")
        opts = {"Aliases": args.alias or [], "IPAddress": args.ip}
        c.config.setdefault("Networks", {})[net["Name"]] = opts
        if c.init_alive():
            agent = netlink.Agent(in_process=True)
            from runtime.network import endpoint, ports
            a = endpoint.connect(c, c.state["Pid"], agent, net["Name"], opts["Aliases"], opts["IPAddress"], [],
                                 ports.Reservation(), runner.endpoint_alive(args.root), index=len(attached))
            c.state["Network"] = attached + [a]
            c.save_state()
        c.save_config()
    if runner.needs_dns(c):
        from runtime.engine import monitor
        monitor.request(args.root, op="dns")
    return 0


def cmd_disconnect(args):
    from runtime.engine.containers import Containers
    from runtime.network import endpoint, netlink
    from runtime.network.networks import Networks
    net = Networks(args.root).find(args.network)
    with Containers(args.root).get(args.container) as c:
        attached = c.state.get("Network") or []
        mine = [i for i, a in enumerate(attached) if a["network"] == net["Name"]]
        configured = net["Name"] in (c.config.get("Networks") or {}) or \
            c.config["HostConfig"].get("NetworkMode") == net["Name"]
        if not mine and not configured:
            raise Conflict(f"container {c.name} is not connected to network {net['Name']}")
        (c.config.get("Networks") or {}).pop(net["Name"], None)
        if c.config["HostConfig"].get("NetworkMode") == net["Name"]:
            c.config["HostConfig"]["NetworkMode"] = "none"
        for i in mine:
            try:
                netlink.remove_link(endpoint.host_if(c.id, i))
            except OSError:
                pass
            endpoint.disconnect(args.root, c.id, attached[i])
        c.state["Network"] = [a for i, a in enumerate(attached) if i not in mine]
        c.save_state()
        c.save_config()
    return 0


HANDLERS = {"network-create": cmd_create, "network-ls": cmd_ls, "network-inspect": cmd_inspect, "network-rm": cmd_rm,
            "network-prune": cmd_prune, "network-connect": cmd_connect, "network-disconnect": cmd_disconnect}
