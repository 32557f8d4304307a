"""hull: the docker-style engine's command line. Each verb group lives in its own module (images.py
...); this one parses the global flags, dispatches, and turns every failure into docker's one line
on stderr and exit code (125: hull failed; a container's own code otherwise).

`--root` (default /var/lib/hull) holds the store under images/; `--config` (default ~/.hull) the
credentials and insecure registries (runtime/image/config.py).
"""
import os
import sys

from runtime import __version__
from runtime.cli.args import Flag, flag_lines, group_help, help_text, listing, parse
from runtime.errors import HullError

GLOBAL_FLAGS = [
    Flag("root", value=True, default="/var/lib/hull", help="hull's data directory (default /var/lib/hull)"),
    Flag("config", value=True, help="credentials and registry settings (default $HULL_CONFIG or ~/.hull)"),
    Flag("trace", help="narrate each kernel and wire step on stderr (--trace=json: a JSON object a line)"),
    Flag("version", "v", help="print the version"),
    Flag("help", "h", help="show help"),
]
DESCRIPTION = "The docker-style engine: images, containers, registries."


def _groups():
    """[(verb table, handlers)] of every verb module (imported only when hull runs a verb)."""
    from runtime.cli import build, completion, containers, explain, images, inside, network, run, system, volumes
    return [(images.VERBS, images.HANDLERS), (build.VERBS, build.HANDLERS), (run.VERBS, run.HANDLERS),
            (containers.VERBS, containers.HANDLERS), (inside.VERBS, inside.HANDLERS),
            (volumes.VERBS, volumes.HANDLERS), (network.VERBS, network.HANDLERS), (system.VERBS, system.HANDLERS),
            (explain.VERBS, explain.HANDLERS), (completion.VERBS, completion.HANDLERS)]


def _tables():
    """Every verb (the management commands are not verbs: _management maps `image ls` to `images`)."""
    verbs, handlers = {}, {}
    for table, funcs in _groups():
        verbs.update({v.name: v for v in table})
        handlers.update(funcs)
    from runtime.cli.args import Verb
    verbs["version"] = Verb("version", "print the version")
    return verbs, handlers


ROOTLESS = {"completion"}  # verbs that never touch the root, so do not make it (setup runs them as it installs)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.umask(0o022)  # what hull makes never depends on the caller's umask (dockerd does the same)
    verb = None  # known once parsed: docker's exit codes depend on it (display.exit_code)
    try:
        argv = _trace_flag(argv)
        verbs, handlers = _tables()
        argv, typed = _management(argv)
        args = parse(argv, GLOBAL_FLAGS, verbs, typed)
        if args.version:
            print(f"hull version {__version__}")
            return 0
        if args.verb == "version":
            from runtime.cli.system import print_version
            return print_version()
        if args.verb is None or args.verb == "help" or args.help:
            sys.stdout.write(_help(verbs, getattr(args, "topic", None), typed))
            return 0
        verb = args.verb
        if args.verb not in ROOTLESS:
            from runtime.engine import private_root
            private_root(args.root)
        code = handlers[args.verb](args) or 0
        sys.stdout.flush()  # here, where a closed pipe is handled, not at exit
        return code
    except HullError as e:
        from runtime.cli import display
        display.error(e.msg)
        return display.exit_code(e, verb)
    except BrokenPipeError:
        _quiet_stdout()  # `hull images | head -1`: the reader left, nothing more to say
        return 141
    except OSError as e:
        sys.stderr.write(f"Error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}\n")
        from runtime.cli import display
        return display.exit_code(None, verb)
    except KeyboardInterrupt:
        sys.stderr.write("hull: interrupted\n")
        return 130
    except Exception as e:  # noqa: BLE001 - a bug of ours: one line for the user, the trace on request
        if os.environ.get("HULL_DEBUG"):
            raise
        sys.stderr.write(f"Error: internal error: {type(e).__name__}: {e} (HULL_DEBUG=1 shows where)\n")
        from runtime.cli import display
        return display.exit_code(None, verb)


def _trace_flag(argv: list) -> list:
    """Take --trace[=text|json] from the global flags (before the verb) and turn tracing on."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        flag = argv[i]
        if flag == "--trace" or flag.startswith("--trace="):
            how = flag.partition("=")[2] or "text"
            if how not in ("text", "json"):
                from runtime.cli.args import FlagError
                raise FlagError(f"invalid argument {how!r} for \"--trace\" flag: text or json")
            from runtime import trace
            trace.enable(how)
            return argv[:i] + argv[i + 1:]
        i += 2 if flag in ("--root", "--config") else 1
    return argv


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
    "system": {"prune": "system-prune", "df": "system-df", "info": "info", "events": "events", "reset": "system-reset",
               "service": "system-service"},
    "network": {"create": "network-create", "ls": "network-ls", "list": "network-ls", "inspect": "network-inspect",
                "rm": "network-rm", "remove": "network-rm", "prune": "network-prune", "connect": "network-connect",
                "disconnect": "network-disconnect"},
}


GROUPS = {"builder": "Manage builds", "container": "Manage containers", "image": "Manage images",
          "network": "Manage networks", "system": "Manage hull", "volume": "Manage volumes"}


def subcommands(group: str) -> list:
    """[(name, verb)] of a management command, sorted, each verb once: ls, not its alias list too."""
    first = {}
    for name, verb in MANAGEMENT[group].items():
        first.setdefault(verb, name)
    return sorted((name, verb) for verb, name in first.items())


def hidden(verb: str) -> bool:
    """Internal verb names (image-inspect, volume-create, prune...): callable, but users reach them as
    `hull image inspect`, so neither the help nor the completion offers them (docker has no `prune`)."""
    return "-" in verb or verb == "prune"


def _management(argv: list) -> tuple:
    """`hull [globals] image|container ACTION ARGS` -> (`hull [globals] VERB ARGS`, "image ACTION"),
    docker's management commands; `hull image` alone and `hull image --help` give (`--help`, "image"),
    for image's own help. Other command lines are left as they are, with None."""
    takes_value = {f"--{f.name}" for f in GLOBAL_FLAGS if f.value}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in takes_value else 1
    if i >= len(argv) or argv[i] not in MANAGEMENT:
        return argv, None
    group, rest = argv[i], argv[i + 1:]
    if not rest or rest[0] in ("-h", "--help"):
        return argv[:i] + ["--help"], group
    verb = MANAGEMENT[group].get(rest[0])
    if verb is None:
        from runtime.cli.args import UsageError
        raise UsageError(f"{group}: unknown command {rest[0]!r} (see 'hull {group} --help')")
    return argv[:i] + [verb] + rest[1:], f"{group} {rest[0]}"


def _help(verbs: dict, topic, typed) -> str:
    """`hull --help`, `hull image --help` (typed: "image") or `hull image ls --help` (topic: images)."""
    if typed in MANAGEMENT:
        # "details of images as JSON (`hull image inspect`)": the remark is for the internal name's help
        return group_help("hull", typed, GROUPS[typed],
                          ((name, verbs[verb].help.split(" (`hull ")[0]) for name, verb in subcommands(typed)))
    if topic is not None:
        from runtime.cli.examples import EXAMPLES
        return help_text("hull", DESCRIPTION, GLOBAL_FLAGS, verbs, topic, typed, EXAMPLES.get(topic.name, ""))
    lines = ["usage: hull [global flags] COMMAND [flags] ARGS", "", DESCRIPTION, ""]
    lines += listing("Management Commands:", sorted(GROUPS.items())) + [""]
    lines += listing("Commands:", sorted((v.name, v.help) for v in verbs.values() if not hidden(v.name)))
    lines += ["", "Global Flags:"] + flag_lines(GLOBAL_FLAGS)
    lines += ["", "Run 'hull COMMAND --help' for more information on a command."]
    return "\n".join(lines) + "\n"


def _quiet_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
