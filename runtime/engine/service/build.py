"""Builds, as docker's API takes them (POST /build): a context (a directory, or a tar's bytes: a
plain Dockerfile alone is a build with an empty context, as docker's), the query's options, and a
writer for the steps. Returns the image ID; nothing is left of a context tar afterwards."""
import io
import json
import os
import shutil
import sys
import tempfile

from runtime.errors import HullError, InvalidArgument


def build(root: str, query: dict, context_dir: str | None = None, context_tar: bytes | None = None,
          dockerfile_text: str | None = None, out=None, context_file: str | None = None) -> str:
    """query: docker's parameters as values: t (list), dockerfile (a path: inside the context, or
    the client's own), buildargs, labels (dicts), nocache, pull, q, target, networkmode, platform."""
    from runtime.engine.build.builder import Builder, Options
    from runtime.engine.build.context import Context
    from runtime.image.reference import parse as parse_ref
    if query.get("platform") not in (None, "", "linux/amd64"):
        raise InvalidArgument(f"--platform {query['platform']}: hull builds linux/amd64 images only")
    network = query.get("networkmode") or "bridge"
    if network not in ("bridge", "default", "host", "none"):
        raise InvalidArgument(f"--network {network}: bridge, host or none")
    for tag in query.get("t") or []:
        if parse_ref(tag).digest:
            raise InvalidArgument(f"invalid tag {tag!r}: a tag cannot have a digest")
    opts = Options(tags=query.get("t") or [], build_args=query.get("buildargs") or {},
                   no_cache=bool(query.get("nocache")), pull=bool(query.get("pull")), target=query.get("target"),
                   labels=query.get("labels") or {}, quiet=bool(query.get("q")),
                   network="bridge" if network == "default" else network, out=out)
    name = os.path.basename(query.get("dockerfile") or "Dockerfile")
    work = None
    try:
        if context_file is not None:  # the API's body, spooled: a tar (or a Dockerfile alone)
            work = context = tempfile.mkdtemp(prefix="hull-build-")
            with open(context_file, "rb") as f:
                head = f.read(512)
                f.seek(0)
                if is_tar(head):
                    _unpack(f, work)
                else:
                    dockerfile_text, name = decode(f.read(), "the request body"), "Dockerfile"
        elif context_tar is not None:
            work = tempfile.mkdtemp(prefix="hull-build-")
            context = work
            if is_tar(context_tar):
                _unpack(io.BytesIO(context_tar), work)
            else:  # a Dockerfile alone: no context
                dockerfile_text, name = decode(context_tar, "stdin"), "Dockerfile"
        else:
            context = context_dir or ""
            if not os.path.isdir(context):
                raise InvalidArgument(f'unable to prepare context: path "{context}" not found')
        if dockerfile_text is None:
            dockerfile_text = read_dockerfile(context, query.get("dockerfile"))
        else:
            name = "Dockerfile"
        image_id = Builder(root, Context(context), dockerfile_text, name, opts).build()
    finally:
        if work:
            shutil.rmtree(work, ignore_errors=True)
    from runtime.engine import events
    events.emit(root, "image", "build", image_id, {"name": (query.get("t") or [image_id])[0]})
    for tag in query.get("t") or []:
        events.emit(root, "image", "tag", image_id, {"name": parse_ref(tag).familiar()})
    return image_id


def read_dockerfile(context: str, file: str | None) -> str:
    """The Dockerfile: file (the client's own path, or one inside the context), else Dockerfile
    or dockerfile in the context; read as a regular file only (context.read_file)."""
    from runtime.engine.build.context import read_file
    if file:
        named = [file] if os.path.isabs(file) else [file, os.path.join(context, file)]
        candidates = [(p, None) for p in named]
    else:
        candidates = [(os.path.join(context, n), n) for n in ("Dockerfile", "dockerfile")]
    for path, rel in candidates:
        data = read_file(context, rel, missing_ok=True) if rel else \
            read_file(context, "", missing_ok=True, path=path) if os.path.lexists(path) else None
        if data is not None:
            return decode(data, path)
    raise InvalidArgument(f"unable to prepare context: the Dockerfile ({candidates[0][0]}) cannot be found")


def decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise InvalidArgument(f"{where}: the Dockerfile is not UTF-8 text") from None


def spawn(root: str, query: dict, context_file: str):
    """POST /build for a long-lived caller (the API service): the build runs in a child process
    (RUN steps fork and watch containers; a threaded server must not). Its output (the steps and
    what RUN prints) comes on the child's stdout; finish() gives the image ID or raises its error."""
    import subprocess
    code = (f"import sys; sys.path[:0] = {sys.path!r}; from runtime.engine.service.build import _child; "
            f"_child({root!r}, {json.dumps(query)!r}, {context_file!r})")
    return subprocess.Popen([sys.executable, "-I", "-S", "-c", code], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, close_fds=True)


def finish(proc, context_file: str) -> str:
    """The child's result once its output is read: the image ID, or its error raised."""
    from runtime.errors import from_wire
    proc.wait()
    try:
        with open(context_file + ".result", "rb") as f:
            result = json.loads(f.read())
    except (OSError, ValueError):
        raise HullError(f"the build ended without a result (exit status {proc.returncode})") from None
    finally:
        try:
            os.unlink(context_file + ".result")
        except OSError:
            pass
    if "error" in result:
        raise from_wire(result)
    return result["id"]


def _child(root: str, query_text: str, context_file: str) -> None:
    from runtime.errors import to_wire
    try:
        result = {"id": build(root, json.loads(query_text), context_file=context_file)}
    except HullError as e:
        result = to_wire(e)
    except Exception as e:  # noqa: BLE001 - reported to the client, whatever it was
        result = to_wire(HullError(f"{type(e).__name__}: {e}"))
    sys.stdout.flush()
    with open(context_file + ".result", "w") as f:
        f.write(json.dumps(result))


def is_tar(data: bytes) -> bool:
    return data[257:262] == b"ustar" or data[:2] == b"\x1f\x8b" or data[:4] == b"\x28\xb5\x2f\xfd"


def _unpack(data, dest: str) -> None:
    """The context tar (a file object), unpacked safely (nothing lands outside dest), its names as they are."""
    import tarfile
    import zlib

    from runtime.image import layer, tartree
    root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    out = tartree.Extractor(root, replace_dirs=True)
    try:
        with tarfile.open(fileobj=layer.decompressed(data), mode="r|") as tar:
            for m in tar:
                out.extract(tar, m, tartree.clean_name(m.name))
        out.finish()
    except HullError as e:
        raise InvalidArgument(f"the build context on stdin: {e.msg}") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise InvalidArgument(f"cannot unpack the build context on stdin: {e}") from None
    finally:
        os.close(root)
