"""hull: the docker-style engine's command line. Each verb group lives in its own module (images.py
...); this one parses the global flags, dispatches, and turns every failure into docker's one line
on stderr and exit code (125: hull failed; a container's own code otherwise).

`--root` (default /var/lib/hull) holds the store under images/; `--config` (default ~/.hull) the
credentials and insecure registries (runtime/image/config.py).
"""
import os
import sys

from runtime import __version__
from runtime.cli.args import Flag, help_text, parse
from runtime.errors import HullError

GLOBAL_FLAGS = [
    Flag("root", value=True, default="/var/lib/hull", help="hull's data directory (default /var/lib/hull)"),
    Flag("config", value=True, help="credentials and registry settings (default $HULL_CONFIG or ~/.hull)"),
    Flag("version", "v", help="print the version"),
    Flag("help", "h", help="show help"),
]
DESCRIPTION = "The docker-style engine: images, containers, registries."


def _groups():
    """[(verb table, handlers)] of every verb module (imported only when hull runs a verb)."""
    from runtime.cli import build, containers, images, inside, network, run, system, volumes
    return [(images.VERBS, images.HANDLERS), (build.VERBS, build.HANDLERS), (run.VERBS, run.HANDLERS),
            (containers.VERBS, containers.HANDLERS), (inside.VERBS, inside.HANDLERS),
            (volumes.VERBS, volumes.HANDLERS), (network.VERBS, network.HANDLERS), (system.VERBS, system.HANDLERS)]


def _tables():
    verbs, handlers = {}, {}
    for table, funcs in _groups():
        verbs.update({v.name: v for v in table})
        handlers.update(funcs)
    from runtime.cli.args import Verb
    verbs["version"] = Verb("version", "print the version")
    verbs["image"] = Verb("image", "image commands: ls, inspect, rm, prune, history, import, load, save, tag, "
                                   "pull, push, build", [], ["command"], rest=True)
    verbs["container"] = Verb("container", "container commands: ls, run, create, start, stop, rm, inspect, logs, "
                                           "exec, prune ...", [], ["command"], rest=True)
    verbs["volume"] = Verb("volume", "volume commands: create, ls, inspect, rm, prune", [], ["command"], rest=True)
    verbs["builder"] = Verb("builder", "build commands: build, prune", [], ["command"], rest=True)
    verbs["system"] = Verb("system", "system commands: prune, df, info", [], ["command"], rest=True)
    verbs["network"] = Verb("network", "network commands: create, ls, inspect, rm, prune, connect, disconnect", [],
                            ["command"], rest=True)
    return verbs, handlers


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.umask(0o022)  # what hull makes never depends on the caller's umask (dockerd does the same)
    try:
        verbs, handlers = _tables()
        args = parse(_management(argv), GLOBAL_FLAGS, verbs)
        if args.version or args.verb == "version":
            print(f"hull version {__version__}")
            return 0
        if args.verb is None or args.verb == "help" or args.help:
            sys.stdout.write(help_text("hull", DESCRIPTION, GLOBAL_FLAGS, verbs, getattr(args, "topic", None)))
            return 0
        from runtime.engine import private_root
        private_root(args.root)
        code = handlers[args.verb](args) or 0
        sys.stdout.flush()  # here, where a closed pipe is handled, not at exit
        return code
    except HullError as e:
        sys.stderr.write(f"Error: {e.msg}\n")
        return e.exit_code  # the error map: 125, or 126/127 when the container's command could not run
    except BrokenPipeError:
        _quiet_stdout()  # `hull images | head -1`: the reader left, nothing more to say
        return 141
    except OSError as e:
        sys.stderr.write(f"Error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}\n")
        return 125
    except KeyboardInterrupt:
        sys.stderr.write("hull: interrupted\n")
        return 130
    except Exception as e:  # noqa: BLE001 - a bug of ours: one line for the user, the trace on request
        if os.environ.get("HULL_DEBUG"):
            raise
        sys.stderr.write(f"Error: internal error: {type(e).__name__}: {e} (HULL_DEBUG=1 shows where)\n")
        return 125


MANAGEMENT = {
    "image": {"ls": "images", "list": "images", "inspect": "image-inspect", "rm": "rmi", "remove": "rmi",
              "prune": "prune", "history": "history", "import": "import", "load": "load", "save": "save",
              "tag": "tag", "pull": "pull", "push": "push", "build": "build"},
    "builder": {"prune": "builder-prune", "build": "build"},
    "container": {"ls": "ps", "list": "ps", "prune": "container-prune", **{v: v for v in (
        "run", "create", "start", "stop", "restart", "kill", "rm", "inspect", "logs", "exec", "wait", "top", "stats",
        "rename", "pause", "unpause", "attach", "update", "diff", "commit", "cp", "export", "port")}},
    "volume": {"create": "volume-create", "ls": "volume-ls", "list": "volume-ls", "inspect": "volume-inspect",
               "rm": "volume-rm", "remove": "volume-rm", "prune": "volume-prune"},
    "system": {"prune": "system-prune", "df": "system-df", "info": "info", "reset": "system-reset"},
    "network": {"create": "network-create", "ls": "network-ls", "list": "network-ls", "inspect": "network-inspect",
                "rm": "network-rm", "remove": "network-rm", "prune": "network-prune", "connect": "network-connect",
                "disconnect": "network-disconnect"},
}


def _management(argv: list) -> list:
    """`hull [globals] image|container ACTION ARGS` -> `hull [globals] VERB ARGS` (docker's
    management commands; `hull image` alone and `hull image ACTION --help` show the help)."""
    takes_value = {f"--{f.name}" for f in GLOBAL_FLAGS if f.value}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in takes_value else 1
    if i >= len(argv) or argv[i] not in MANAGEMENT:
        return argv
    group, rest = argv[i], argv[i + 1:]
    if not rest or rest[0] in ("-h", "--help"):
        return argv[:i] + ["--help"]
    verb = MANAGEMENT[group].get(rest[0])
    if verb is None:
        raise HullError(f"{group}: unknown command {rest[0]!r} ({', '.join(MANAGEMENT[group])})")
    return argv[:i] + [verb] + rest[1:]


def _quiet_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
