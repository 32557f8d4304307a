"""`hull build` and `hull builder prune`: flags -> runtime/engine/service/build.py (the builder is
runtime/engine/build).

The context is a directory, or a tar on stdin (`-`; a Dockerfile alone on stdin is a build with an
empty context, as docker's). Every failure exits 1, as docker build's do.
"""
import os
import sys

from runtime.cli.args import Flag, Verb
from runtime.errors import HullError, InvalidArgument

VERBS = [
    Verb("build", "build an image from a Dockerfile", [
        Flag("tag", "t", value=True, many=True, help="name the image NAME[:TAG] (repeatable)"),
        Flag("file", "f", value=True, help="the Dockerfile (default CONTEXT/Dockerfile; - for stdin)"),
        Flag("build-arg", value=True, many=True, help="KEY=VALUE for an ARG (KEY alone: from the environment)"),
        Flag("no-cache", help="do not reuse cached steps"),
        Flag("pull", help="pull base images even if they are here"),
        Flag("target", value=True, help="build up to this stage"),
        Flag("label", value=True, many=True, help="KEY=VALUE, a label of the image"),
        Flag("quiet", "q", help="print only the image ID"),
        Flag("network", value=True, default="bridge", help="RUN's network: bridge (default), host, none"),
        Flag("iidfile", value=True, help="write the image ID to this file"),
        Flag("platform", value=True, help="linux/amd64 (the only one)"),
        Flag("rm", value=True, default="true", help="remove intermediate containers (always)"),
        Flag("force-rm", help="remove intermediate containers even on failure (always)"),
    ], ["context"]),
    Verb("builder-prune", "remove the build cache (`hull builder prune`)", [
        Flag("all", "a", help="all of it (the default: hull keeps no other kind)"),
        Flag("force", "f", help="do not ask")]),
]


def _pairs(items: list, what: str, from_env: bool = False) -> dict:
    out = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {what} {item!r}: KEY=VALUE")
        if not eq:
            if not from_env:
                raise InvalidArgument(f"invalid {what} {item!r}: KEY=VALUE")
            if key not in os.environ:
                continue  # docker: --build-arg KEY takes the environment's value, if any
            value = os.environ[key]
        out[key] = value
    return out


def cmd_build(args):
    try:
        return _build(args)
    except HullError as e:
        e.exit_code = 1
        raise


def _build(args):
    """flags -> POST /build's query and body (the context dir, or stdin's bytes) -> the service."""
    from runtime.engine.service import build as service
    query = {"t": args.tag or [], "dockerfile": None if args.file == "-" else args.file,
             "buildargs": _pairs(args.build_arg, "--build-arg", from_env=True), "nocache": bool(args.no_cache),
             "pull": bool(args.pull), "target": args.target, "labels": _pairs(args.label, "--label"),
             "q": bool(args.quiet), "networkmode": args.network, "platform": args.platform}
    if args.context.startswith(("http://", "https://", "git@", "git://")):
        raise InvalidArgument(f"{args.context}: remote build contexts are not supported (give a directory or -)")
    if args.context == "-":
        if args.file == "-":
            raise InvalidArgument("cannot read both the context and the Dockerfile from stdin")
        image_id = service.build(args.root, query, context_tar=sys.stdin.buffer.read())
    else:
        text = service.decode(sys.stdin.buffer.read(), "stdin") if args.file == "-" else None
        image_id = service.build(args.root, query, context_dir=args.context, dockerfile_text=text)
    if args.quiet:
        print(image_id)
    if args.iidfile:
        with open(args.iidfile, "w") as f:
            f.write(image_id)
    return 0


def cmd_builder_prune(args):
    from runtime.cli import display
    from runtime.cli.images import confirm
    if not args.force and not confirm("WARNING! This will remove all dangling build cache."):
        return 0
    ids, freed = prune_cache(args)
    display.deleted("build cache objects", ids)
    display.reclaimed(freed)
    return 0


def prune_cache(args) -> tuple:
    """The build cache's prune: (the steps' IDs, bytes freed)."""
    from runtime.engine.service import images as service
    report = service.prune_cache(args.root)
    return report["CachesDeleted"], report["SpaceReclaimed"]


HANDLERS = {"build": cmd_build, "builder-prune": cmd_builder_prune}
