"""`hull build` and `hull builder prune`: the command line of runtime/engine/build.

The context is a directory, or a tar on stdin (`-`; a Dockerfile alone on stdin is a build with an
empty context, as docker's). Every failure exits 1, as docker build's do.
"""
import os
import shutil
import sys
import tempfile

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
    from runtime.engine.build.builder import Builder, Options
    from runtime.engine.build.context import Context
    from runtime.image.reference import parse as parse_ref
    if args.platform not in (None, "", "linux/amd64"):
        raise InvalidArgument(f"--platform {args.platform}: hull builds linux/amd64 images only")
    if args.network not in ("bridge", "default", "host", "none"):
        raise InvalidArgument(f"--network {args.network}: bridge, host or none")
    for tag in args.tag or []:
        ref = parse_ref(tag)
        if ref.digest:
            raise InvalidArgument(f"invalid tag {tag!r}: a tag cannot have a digest")
    opts = Options(tags=args.tag or [], build_args=_pairs(args.build_arg, "--build-arg", from_env=True),
                   no_cache=bool(args.no_cache), pull=bool(args.pull), target=args.target,
                   labels=_pairs(args.label, "--label"), quiet=bool(args.quiet),
                   network="bridge" if args.network == "default" else args.network)
    work = None
    try:
        root, text, name, work = _context(args)
        builder = Builder(args.root, Context(root), text, name, opts)
        image_id = builder.build()
    finally:
        if work:
            shutil.rmtree(work, ignore_errors=True)
    if args.quiet:
        print(image_id)
    if args.iidfile:
        with open(args.iidfile, "w") as f:
            f.write(image_id)
    return 0


def _context(args) -> tuple:
    """(context directory, Dockerfile text, its name for messages, a temporary directory to remove)."""
    if args.context == "-":
        if args.file == "-":
            raise InvalidArgument("cannot read both the context and the Dockerfile from stdin")
        data = sys.stdin.buffer.read()
        work = tempfile.mkdtemp(prefix="hull-build-")
        if _is_tar(data):
            _unpack_context(data, work)
        else:  # a Dockerfile on stdin: no context
            return work, _decode(data, "stdin"), "Dockerfile", work
        return work, _read_dockerfile(args, work), os.path.basename(args.file or "Dockerfile"), work
    if args.context.startswith(("http://", "https://", "git@", "git://")):
        raise InvalidArgument(f"{args.context}: remote build contexts are not supported (give a directory or -)")
    if not os.path.isdir(args.context):
        raise InvalidArgument(f'unable to prepare context: path "{args.context}" not found')
    if args.file == "-":
        return args.context, _decode(sys.stdin.buffer.read(), "stdin"), "Dockerfile", None
    return args.context, _read_dockerfile(args, args.context), os.path.basename(args.file or "Dockerfile"), None


def _read_dockerfile(args, context: str) -> str:
    from runtime.engine.build.context import read_file
    if args.file:  # the user's own path, else one inside the context
        named = [args.file] if os.path.isabs(args.file) else [args.file, os.path.join(context, args.file)]
        candidates = [(p, None) for p in named]
    else:
        candidates = [(os.path.join(context, n), n) for n in ("Dockerfile", "dockerfile")]
    for path, rel in candidates:
        data = read_file(context, rel, missing_ok=True) if rel else \
            read_file(context, "", missing_ok=True, path=path) if os.path.lexists(path) else None
        if data is not None:
            return _decode(data, path)
    raise InvalidArgument(f"unable to prepare context: the Dockerfile ({candidates[0][0]}) cannot be found")


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise InvalidArgument(f"{where}: the Dockerfile is not UTF-8 text") from None


def _is_tar(data: bytes) -> bool:
    return data[257:262] == b"ustar" or data[:2] == b"\x1f\x8b" or data[:4] == b"\x28\xb5\x2f\xfd"


def _unpack_context(data: bytes, dest: str) -> None:
    """The context tar, unpacked safely (nothing lands outside dest), its names as they are."""
    import io
    import tarfile
    import zlib

    from runtime.image import layer, tartree
    root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    out = tartree.Extractor(root, replace_dirs=True)
    try:
        with tarfile.open(fileobj=layer.decompressed(io.BytesIO(data)), mode="r|") as tar:
            for m in tar:
                out.extract(tar, m, tartree.clean_name(m.name))
        out.finish()
    except HullError as e:
        raise InvalidArgument(f"the build context on stdin: {e.msg}") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise InvalidArgument(f"cannot unpack the build context on stdin: {e}") from None
    finally:
        os.close(root)


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
    """Forget every build step and free what only they used: (their image IDs, bytes freed)."""
    from runtime.cli.images import _store_bytes, store
    with store(args) as st:
        before = _store_bytes(st.root)
        ids = sorted({st.image_id(d) for d in st.cache_entries()})
        st.cache_clear()
        st.prune()
        return [i.removeprefix("sha256:")[:25] for i in ids], before - _store_bytes(st.root)


HANDLERS = {"build": cmd_build, "builder-prune": cmd_builder_prune}
