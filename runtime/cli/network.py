"""hull network create | ls | inspect | rm | prune | connect | disconnect: flags -> the Docker API's
bodies -> runtime/engine/service/networks.py; docker's output."""
import sys

from runtime.cli import display
from runtime.cli.args import Flag, Verb
from runtime.engine.service import networks as service
from runtime.errors import HullError

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


def cmd_create(args):
    from runtime.cli.run import key_values
    body = {"Name": args.name, "Driver": args.driver or "bridge", "Internal": bool(args.internal),
            "Labels": key_values(args.label, "label"),
            "IPAM": {"Config": [{k: v for k, v in (("Subnet", args.subnet), ("Gateway", args.gateway)) if v}]}}
    print(service.create(args.root, body)["Id"])
    return 0


def cmd_ls(args):
    from runtime.cli.template import Struct, format_rows
    rows = [Struct({"ID": n["Id"] if args.no_trunc else n["Id"][:12], "Name": n["Name"], "Driver": n["Driver"],
                    "Scope": n["Scope"], "Internal": str(n["Internal"]).lower(),
                    "Labels": ",".join(f"{k}={v}" for k, v in n["Labels"].items())})
            for n in service.summaries(args.root)]
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    sys.stdout.write(format_rows(args.format or "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", rows,
                                 {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE"}))
    return 0


def cmd_inspect(args):
    from runtime.cli.images import print_inspect
    out, failed = [], 0
    for ref in [args.network] + args.command:
        try:
            out.append(service.inspect(args.root, ref))
        except HullError as e:
            display.error(e.msg)
            failed = display.REFUSED
    if out or not args.format:
        print_inspect(out, args.format)
    return failed


def cmd_rm(args):
    failed = 0
    for ref in [args.network] + args.command:
        try:
            service.remove(args.root, ref)
            print(ref)
        except HullError as e:
            display.error(e.msg)
            failed = display.REFUSED
    return failed


def cmd_prune(args):
    from runtime.cli.images import confirm
    if not args.force and not confirm("WARNING! This will remove all custom networks not used by at least one "
                                      "container."):
        return 0
    gone = service.prune(args.root)["NetworksDeleted"]
    if gone:
        print("Deleted Networks:\n" + "\n".join(gone))
    return 0


def cmd_connect(args):
    config = {"Aliases": args.alias or [], **({"IPAMConfig": {"IPv4Address": args.ip}} if args.ip else {})}
    service.connect(args.root, args.network, {"Container": args.container, "EndpointConfig": config})
    return 0


def cmd_disconnect(args):
    service.disconnect(args.root, args.network, {"Container": args.container, "Force": bool(args.force)})
    return 0


HANDLERS = {"network-create": cmd_create, "network-ls": cmd_ls, "network-inspect": cmd_inspect, "network-rm": cmd_rm,
            "network-prune": cmd_prune, "network-connect": cmd_connect, "network-disconnect": cmd_disconnect}
