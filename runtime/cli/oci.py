"""hull-oci: a runc-compatible command line over runtime/container.

Global flags come before the verb (as engines pass them): --root, --log, --log-format, --debug.
Errors are one line on stderr and, with --log, one entry in the log file ({"level","msg","time"} in
json format, which podman and containerd parse). Exit codes follow runc: 0 ok, 1 any error.
Only the modules a verb needs are imported: engines call us 3-4 times per container.
"""
import argparse
import json
import os
import sys

from runtime import OCI_VERSION, __version__
from runtime.errors import HullError


class Log:
    """--log FILE in runc's shapes: json lines, or logrus-style text."""

    def __init__(self, path: str | None, fmt: str, debug: bool):
        self.path, self.fmt, self.debug_on = path, fmt, debug

    def write(self, level: str, msg: str) -> None:
        if not self.path:
            return
        from runtime.container.state import now_rfc3339
        t = now_rfc3339()
        if self.fmt == "json":
            line = json.dumps({"level": level, "msg": msg, "time": t})
        else:
            line = f'time="{t}" level={level} msg={json.dumps(msg)}'
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass

    def debug(self, msg: str) -> None:
        if self.debug_on:
            self.write("debug", msg)
            sys.stderr.write(f"hull-oci: debug: {msg}\n")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hull-oci", description="A runc-compatible OCI runtime in Python.")
    p.add_argument("--version", "-v", action="store_true", help="print the version")
    p.add_argument("--root", default="/run/hull", help="state directory (default /run/hull)")
    p.add_argument("--log", default=None, help="log file (default: none, errors go to stderr)")
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    p.add_argument("--debug", action="store_true")
    p.add_argument("--trace", action="store_true", help="narrate every kernel step on stderr")
    # accepted for compatibility with engines; hull has no systemd cgroup driver or rootless mode yet
    p.add_argument("--systemd-cgroup", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rootless", default=None, help=argparse.SUPPRESS)
    p.add_argument("--criu", default=None, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="verb", metavar="COMMAND")

    def verb(name, help_text):
        return sub.add_parser(name, help=help_text, description=help_text)

    for name, text in (("create", "create a container (its init waits for start)"),
                       ("run", "create and start a container, wait for it unless -d")):
        c = verb(name, text)
        c.add_argument("--bundle", "-b", default=".", help="bundle directory (default: the current one)")
        c.add_argument("--pid-file", default=None)
        c.add_argument("--console-socket", default=None, help="unix socket to send the pty master to")
        c.add_argument("--preserve-fds", type=int, default=0, help="pass fds 3..3+N-1 to the container")
        c.add_argument("--no-pivot", action="store_true", help="use MS_MOVE+chroot instead of pivot_root")
        c.add_argument("--no-new-keyring", action="store_true", help=argparse.SUPPRESS)
        if name == "run":
            c.add_argument("--detach", "-d", action="store_true")
        c.add_argument("id")
    verb("start", "start a created container").add_argument("id")
    verb("state", "print a container's state as JSON").add_argument("id")
    k = verb("kill", "send a signal to a container's init (or all its processes)")
    k.add_argument("--all", "-a", action="store_true")
    k.add_argument("id")
    k.add_argument("signal", nargs="?", default="SIGTERM")
    d = verb("delete", "delete a stopped container (--force: kill it first)")
    d.add_argument("--force", "-f", action="store_true")
    d.add_argument("id")
    ls = verb("list", "list containers")
    ls.add_argument("--format", "-f", default="table", choices=["table", "json"])
    ls.add_argument("--quiet", "-q", action="store_true")
    s = verb("spec", "write a default config.json")
    s.add_argument("--bundle", "-b", default=".")
    s.add_argument("--rootless", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.version:
        print(f"hull-oci version {__version__}\nspec: {OCI_VERSION}")
        return 0
    if not args.verb:
        _parser().print_help()
        return 1
    if args.trace:
        from runtime import trace
        trace.enable()
    log = Log(args.log, args.log_format, args.debug)
    log.debug(f"{args.verb} {getattr(args, 'id', '')}")
    try:
        return VERBS[args.verb](args) or 0
    except HullError as e:
        return _fail(log, e.msg, e.code)
    except OSError as e:
        return _fail(log, e.args[1] if len(e.args) > 1 and not e.filename else str(e), 1)
    except KeyboardInterrupt:
        return _fail(log, "interrupted", 130)


def _fail(log: Log, msg: str, code: int) -> int:
    log.write("error", msg)
    sys.stderr.write(f"hull-oci: {msg}\n")
    return code


def _store(args):
    from runtime.container.state import Store
    return Store(args.root)


def cmd_create(args):
    from runtime.container import lifecycle
    lifecycle.create(_store(args), args.id, args.bundle, args.pid_file, args.console_socket,
                     args.preserve_fds, args.no_pivot)


def cmd_run(args):
    from runtime.container import lifecycle
    return lifecycle.run(_store(args), args.id, args.bundle, args.detach, args.pid_file, args.console_socket,
                         args.preserve_fds, args.no_pivot)


def cmd_start(args):
    from runtime.container import lifecycle
    lifecycle.start(_store(args), args.id)


def cmd_state(args):
    c = _store(args).get(args.id)
    print(json.dumps(c.oci_state(), indent=2))


def cmd_kill(args):
    from runtime.container import lifecycle
    lifecycle.kill(_store(args), args.id, lifecycle.parse_signal(args.signal), args.all)


def cmd_delete(args):
    from runtime.container import lifecycle
    lifecycle.delete(_store(args), args.id, args.force)


def cmd_list(args):
    containers = _store(args).list()
    if args.quiet:
        for c in containers:
            print(c.id)
    elif args.format == "json":
        print(json.dumps([c.oci_state() for c in containers]))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        for c in containers:
            s = c.oci_state()
            rows.append((s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"] or "root"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("   ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def cmd_spec(args):
    from runtime.container.defaults import default_config
    from runtime.errors import Conflict
    path = os.path.join(args.bundle, "config.json")
    if os.path.exists(path):
        raise Conflict(f"{path} exists: remove it first")
    with open(path, "w") as f:
        json.dump(default_config(), f, indent=2)
        f.write("\n")


VERBS = {"create": cmd_create, "run": cmd_run, "start": cmd_start, "state": cmd_state, "kill": cmd_kill,
         "delete": cmd_delete, "list": cmd_list, "spec": cmd_spec}

if __name__ == "__main__":
    sys.exit(main())
