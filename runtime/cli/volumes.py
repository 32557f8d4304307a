"""hull volume create | ls | inspect | rm | prune: flags -> the Docker API's bodies ->
runtime/engine/service/volumes.py; docker's output."""
import sys

from runtime.cli import display
from runtime.cli.args import Flag, Verb
from runtime.engine.service import volumes as service
from runtime.errors import HullError

VERBS = [
    Verb("volume-create", "create a volume", [Flag("label", value=True, many=True, help="KEY=VALUE"),
                                              Flag("driver", "d", value=True, help="local (the only one)")],
         [], ["name"]),
    Verb("volume-ls", "list volumes", [Flag("quiet", "q", help="only names"),
                                       Flag("filter", "f", value=True, many=True, help="dangling=true|false, name="),
                                       Flag("format", value=True, help="a Go template")]),
    Verb("volume-inspect", "details of volumes as JSON", [Flag("format", "f", value=True, help="a Go template")],
         ["volume"], rest=True, rest_name="VOLUME..."),
    Verb("volume-rm", "remove volumes no container uses", [Flag("force", "f", help="no error if missing")],
         ["volume"], rest=True, rest_name="VOLUME..."),
    Verb("volume-prune", "remove every volume no container uses", [Flag("force", "f", help="do not ask")]),
]


def cmd_create(args):
    from runtime.cli.run import key_values
    body = {"Name": args.name, "Driver": args.driver or "local", "Labels": key_values(args.label, "label")}
    print(service.create(args.root, body)["Name"])
    return 0


def cmd_ls(args):
    from runtime.cli.containers import filters_body
    from runtime.cli.template import Struct, format_rows
    listed = service.summaries(args.root, filters_body(args.filter))["Volumes"]
    if args.quiet:
        for v in listed:
            print(v["Name"])
        return 0
    rows = [Struct({"Driver": v["Driver"], "Name": v["Name"], "Mountpoint": v["Mountpoint"], "Scope": v["Scope"],
                    "Labels": ",".join(f"{k}={x}" for k, x in v["Labels"].items())}) for v in listed]
    sys.stdout.write(format_rows(args.format or "table {{.Driver}}\t{{.Name}}", rows,
                                 {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT"}))
    return 0


def cmd_inspect(args):
    from runtime.cli.images import print_inspect
    out, failed = [], 0
    for name in [args.volume] + args.command:
        try:
            out.append(service.inspect(args.root, name))
        except HullError as e:
            display.error(e.msg)
            failed = display.REFUSED
    if out or not args.format:
        print_inspect(out, args.format)
    return failed


def cmd_rm(args):
    failed = 0
    for name in [args.volume] + args.command:
        try:
            service.remove(args.root, name, bool(args.force))
            print(name)
        except HullError as e:
            display.error(e.msg)
            failed = display.REFUSED
    return failed


def cmd_prune(args):
    from runtime.cli import display
    from runtime.cli.images import confirm
    if not args.force and not confirm("WARNING! This will remove all local volumes not used by at least one "
                                      "container."):
        return 0
    report = service.prune(args.root)
    display.deleted("Volumes", report["VolumesDeleted"])
    display.reclaimed(report["SpaceReclaimed"])
    return 0


HANDLERS = {"volume-create": cmd_create, "volume-ls": cmd_ls, "volume-inspect": cmd_inspect, "volume-rm": cmd_rm,
            "volume-prune": cmd_prune}
