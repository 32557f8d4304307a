"""hull volume create | ls | inspect | rm | prune, in docker's words (runtime/engine/volumes.py)."""
import sys

from runtime.cli.args import Flag, Verb
from runtime.errors import HullError, InvalidArgument

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


def _vols(args):
    from runtime.engine.volumes import Volumes
    return Volumes(args.root)


def cmd_create(args):
    if args.driver not in (None, "local"):
        raise InvalidArgument(f"volume driver {args.driver!r} is not available (local)")
    labels = dict(item.partition("=")[::2] for item in args.label or [])
    print(_vols(args).create(args.name, labels))
    return 0


def cmd_ls(args):
    from runtime.cli.template import Struct, format_rows
    from runtime.engine.volumes import users
    vols, used = _vols(args), users(args.root)
    names = vols.names()
    for f in args.filter or []:
        key, _, value = f.partition("=")
        if key == "dangling":
            want = value in ("true", "1")
            names = [n for n in names if (n not in used) == want]
        elif key == "name":
            names = [n for n in names if value in n]
        else:
            raise InvalidArgument(f"invalid filter {key!r} (dangling, name)")
    if args.quiet:
        for n in names:
            print(n)
        return 0
    rows = [Struct({"Driver": "local", "Name": n, "Mountpoint": vols.path(n), "Scope": "local",
                    "Labels": ",".join(f"{k}={v}" for k, v in vols.inspect(n)["Labels"].items())}) for n in names]
    sys.stdout.write(format_rows(args.format or "table {{.Driver}}\t{{.Name}}", rows,
                                 {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT"}))
    return 0


def cmd_inspect(args):
    from runtime.cli.images import print_inspect
    vols, out, failed = _vols(args), [], 0
    for name in [args.volume] + args.command:
        try:
            out.append(vols.inspect(name))
        except HullError as e:
            sys.stderr.write(f"Error: {e.msg}\n")
            failed = 125
    if out or not args.format:
        print_inspect(out, args.format)
    return failed


def cmd_rm(args):
    from runtime.engine.volumes import users
    vols, used, failed = _vols(args), users(args.root), 0
    for name in [args.volume] + args.command:
        try:
            vols.remove(name, used, args.force)
            print(name)
        except HullError as e:
            sys.stderr.write(f"Error: {e.msg}\n")
            failed = 125
    return failed


def cmd_prune(args):
    from runtime.cli import display
    from runtime.cli.images import confirm
    from runtime.engine.volumes import users
    if not args.force and not confirm("WARNING! This will remove all local volumes not used by at least one "
                                      "container."):
        return 0
    vols, used = _vols(args), users(args.root)
    gone, freed = prune(vols, used)
    display.deleted("Volumes", gone)
    display.reclaimed(freed)
    return 0


def prune(vols, used: dict) -> tuple:
    """Remove every unused volume: (names, bytes freed)."""
    gone, freed = [], 0
    for name in vols.names():
        if name not in used:
            freed += vols.size(name)
            vols.remove(name, used)
            gone.append(name)
    return gone, freed


HANDLERS = {"volume-create": cmd_create, "volume-ls": cmd_ls, "volume-inspect": cmd_inspect, "volume-rm": cmd_rm,
            "volume-prune": cmd_prune}
