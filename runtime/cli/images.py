"""hull's image verbs: pull, push, login, logout, import, load, save, images, tag, rmi, image
inspect|prune|history, in docker's words and shapes (columns, --format fields, messages).
Parsing and output only: the work is in runtime/image."""
import os
import sys

from runtime import fastjson as json
from runtime.cli import display
from runtime.cli.args import Flag, Verb
from runtime.errors import HullError, InvalidArgument, NotFound

FORMAT = Flag("format", value=True, help="a Go template ('table {{.ID}}\\t{{.Size}}'), or json")

VERBS = [
    Verb("images", "list images", [
        Flag("all", "a", help="build steps' intermediate images too"),
        Flag("quiet", "q", help="only image IDs"), Flag("digests", help="show repository digests"),
        Flag("no-trunc", help="full image IDs"),
        Flag("filter", "f", value=True, many=True, help="dangling=true|false, reference=PATTERN, before=IMAGE, "
                                                       "since=IMAGE, label=KEY[=VALUE]"), FORMAT],
         [], ["reference"]),
    Verb("import", "create an image from a root filesystem tar", [
        Flag("change", "c", value=True, many=True, help="CMD [\"sh\"] (JSON form only)")], ["file"], ["reference"]),
    Verb("pull", "fetch an image from a registry", [
        Flag("platform", value=True, default="linux/amd64", help="os/arch[/variant] to choose from an index"),
        Flag("quiet", "q", help="print only the name")], ["image"]),
    Verb("push", "send an image to its registry", [Flag("quiet", "q", help="print only the digest")], ["image"]),
    Verb("login", "check and keep credentials for a registry", [
        Flag("username", "u", value=True, help="user name"),
        Flag("password", "p", value=True, help="password (visible to other users: prefer --password-stdin)"),
        Flag("password-stdin", help="read the password from stdin")], [], ["server"]),
    Verb("logout", "forget the credentials for a registry", [], [], ["server"]),
    Verb("load", "load images from a docker-archive, oci-archive or OCI layout (default: stdin)", [
        Flag("input", "i", value=True, help="the archive or directory instead of stdin"),
        Flag("quiet", "q", help="print nothing")]),
    Verb("save", "write images as a docker-archive or an OCI layout (default: stdout)", [
        Flag("output", "o", value=True, help="the archive (or directory, for oci-dir) instead of stdout"),
        Flag("format", value=True, default="docker-archive", help="docker-archive, oci-archive or oci-dir")],
         ["image"], rest=True, rest_name="IMAGE..."),
    Verb("tag", "give an image another name", [], ["source_image", "target_image"]),
    Verb("rmi", "remove images: their names, and the data no other image uses",
         [Flag("force", "f", help="remove an image with several names, or one a container uses")],
         ["image"], rest=True, rest_name="IMAGE..."),
    Verb("history", "show an image's history", [
        Flag("human", "H", value=True, default="true", help="sizes and times for people (default true)"),
        Flag("quiet", "q", help="only image IDs"), Flag("no-trunc", help="do not shorten the output"), FORMAT],
         ["image"]),
    Verb("image-inspect", "details of images as JSON (`hull image inspect`)",
         [Flag("format", "f", value=True, help="a Go template: {{.Os}}")], ["image"], rest=True, rest_name="IMAGE..."),
    Verb("prune", "remove dangling images (-a: every image no container uses)", [
        Flag("all", "a", help="every image without a container, not only untagged ones"),
        Flag("force", "f", help="do not ask")]),
]


def store(args):
    from runtime.image.store import Store
    root = os.path.join(args.root, "images")
    if not os.path.isdir(root) and os.geteuid() != 0:
        raise InvalidArgument(f"{root} does not exist (hull's store needs root to create it)")
    return Store(root)


def _short(image_id: str, no_trunc: bool = False) -> str:
    return image_id if no_trunc else image_id.removeprefix("sha256:")[:12]


# -- images ----------------------------------------------------------------------------------------------

IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
                 "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "VirtualSize": "SIZE",
                 "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE"}


def image_rows(st, args) -> list:
    """One row per name (untagged images: one <none> row), newest first, docker's fields."""
    from runtime.cli.template import Struct
    from runtime.image.reference import parse as parse_ref
    filters = _image_filters(st, args)
    want = parse_ref(args.reference, default_tag=None) if getattr(args, "reference", None) else None
    from runtime.image.store import is_cache
    rows = []
    entries = st.entries()
    listed = {desc["digest"] for _, desc in entries if not is_cache(desc)}
    for ref, desc in entries:
        if want and (ref is None or ref.name != want.name or (want.tag and ref.tag != want.tag)):
            continue
        if is_cache(desc) and (not getattr(args, "all", False) or desc["digest"] in listed):
            continue  # a build step's image: docker's intermediate images, shown with -a
        manifest = st.manifest(desc)
        image_id = manifest["config"]["digest"]
        config = st.config(manifest)
        if not all(f(ref, image_id, config) for f in filters):
            continue
        digests = st.repo_digests(image_id)
        name = ref.familiar().split("@")[0].rsplit(":", 1)[0] if ref and ref.tag else \
            ref.familiar().split("@")[0] if ref else "<none>"
        size = display.human_size(st.size(desc))
        rows.append((config.get("created", ""), Struct({
            "Containers": "N/A", "CreatedAt": display.go_time(config.get("created", "")),
            "CreatedSince": display.since(config.get("created", "")) or "N/A",
            "Digest": next((d.split("@")[1] for d in digests if ref and d.startswith(ref.name + "@")), "<none>"),
            "ID": _short(image_id, args.no_trunc), "Repository": name, "SharedSize": "N/A", "Size": size,
            "Tag": ref.tag if ref and ref.tag else "<none>", "UniqueSize": "N/A", "VirtualSize": size})))
    rows.sort(key=lambda r: display.parse_time(r[0]) or 0, reverse=True)
    return [r for _, r in rows]


def _image_filters(st, args) -> list:
    """docker's --filter for images, each a predicate (ref or None, image ID, config)."""
    import fnmatch
    out = []
    for f in args.filter or []:
        key, eq, value = f.partition("=")
        if not eq:
            raise InvalidArgument(f"bad format of filter (expected name=value): {f!r}")
        if key == "dangling":
            if value not in ("true", "false", "1", "0"):
                raise InvalidArgument(f"invalid filter 'dangling={value}'")
            dangling = value in ("true", "1")
            out.append(lambda ref, i, c, d=dangling: (ref is None) == d)
        elif key == "reference":
            out.append(lambda ref, i, c, p=value: ref is not None and (
                fnmatch.fnmatchcase(ref.familiar(), p) or fnmatch.fnmatchcase(ref.familiar().rsplit(":", 1)[0], p)))
        elif key in ("before", "since"):
            _, desc = st.lookup(value)
            pivot = display.parse_time(st.config(st.manifest(desc)).get("created", "")) or 0
            cmp = (lambda t, p=pivot: t < p) if key == "before" else (lambda t, p=pivot: t > p)
            out.append(lambda ref, i, c, cmp=cmp: cmp(display.parse_time(c.get("created", "")) or 0))
        elif key == "label":
            k, has_value, v = value.partition("=")
            out.append(lambda ref, i, c, k=k, v=v, h=has_value: k in ((c.get("config") or {}).get("Labels") or {})
                       and (not h or c["config"]["Labels"][k] == v))
        else:
            raise InvalidArgument(f"invalid filter {key!r} (dangling, reference, before, since, label)")
    return out


def cmd_images(args):
    with store(args) as st:
        rows = image_rows(st, args)
    if args.quiet:
        for image_id in dict.fromkeys(r["ID"] for r in rows):  # one line per image, not per name
            print(image_id)
        return 0
    from runtime.cli.template import format_rows
    fmt = args.format or ("table {{.Repository}}\t{{.Tag}}\t" + ("{{.Digest}}\t" if args.digests else "")
                          + "{{.ID}}\t{{.CreatedSince}}\t{{.Size}}")
    sys.stdout.write(format_rows(fmt, rows, IMAGE_HEADERS))
    return 0


# -- import, pull, push, login ----------------------------------------------------------------------

def cmd_import(args):
    from runtime.image import archive
    cmd = None
    for change in args.change or []:
        word, _, value = change.partition(" ")
        if word.upper() != "CMD":
            raise InvalidArgument(f"--change {change!r}: only CMD is supported")
        try:
            cmd = json.loads(value)
        except ValueError:
            cmd = ["/bin/sh", "-c", value]
    if not os.path.isfile(args.file):
        raise InvalidArgument(f"{args.file}: no such file")
    with store(args) as st:
        desc = archive.import_rootfs(st, args.file, args.reference, cmd)
        print(st.image_id(desc))
    return 0


def cmd_pull(args):
    from runtime.image import transfer
    from runtime.image.config import Config
    from runtime.image.reference import parse as parse_ref
    ref = parse_ref(args.image)
    with store(args) as st:
        transfer.pull(st, ref, args.platform, Config(args.config), transfer.Progress(quiet=args.quiet))
    print(str(ref) if not (ref.digest and ref.tag) else f"{ref.name}@{ref.digest}")
    return 0


def cmd_push(args):
    from runtime.image import transfer
    from runtime.image.config import Config
    with store(args) as st:
        digest = transfer.push(st, args.image, Config(args.config), transfer.Progress(quiet=args.quiet))
    if args.quiet:
        print(digest)
    return 0


def _server(text: str | None) -> str:
    """A login server as the domain image references use: docker.io for Docker Hub's spellings."""
    if not text:
        return "docker.io"
    host = text.split("://", 1)[-1].split("/", 1)[0]
    if host in ("index.docker.io", "registry-1.docker.io", "docker.io"):
        return "docker.io"
    if not host or host != host.lower():
        raise InvalidArgument(f"invalid registry {text!r}")
    return host


def cmd_login(args):
    from runtime.image import transfer
    from runtime.image.config import Config
    domain = _server(args.server)
    user, password = args.username, args.password
    if args.password_stdin:
        if args.password:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
        if not user:
            raise InvalidArgument("--password-stdin needs --username")
        password = sys.stdin.readline().rstrip("\n").rstrip("\r")
        if not password:
            raise InvalidArgument("login: the password on stdin is empty")
    if not user:
        if not sys.stdin.isatty():
            raise InvalidArgument("login: give --username (stdin is not a terminal to ask on)")
        user = input("Username: ").strip()
    if not password:
        import getpass
        if not sys.stdin.isatty():
            raise InvalidArgument("login: give --password-stdin (stdin is not a terminal to ask on)")
        password = getpass.getpass("Password: ")
    if not user or not password:
        raise InvalidArgument("login: a user name and a password are required")
    transfer.login(domain, user, password, Config(args.config))
    print("Login Succeeded")
    return 0


def cmd_logout(args):
    from runtime.image.config import Config
    domain = _server(args.server)
    if Config(args.config).remove_credentials(domain):
        print(f"Removing login credentials for {domain}")
    else:
        print(f"Not logged in to {domain}")
    return 0


# -- load, save --------------------------------------------------------------------------------------

def cmd_load(args):
    from runtime.image import archive, layout
    with store(args) as st:
        if args.input:
            if not os.path.exists(args.input):
                raise InvalidArgument(f"{args.input}: no such file or directory")
            path = args.input
        else:
            if sys.stdin.isatty():
                raise InvalidArgument("load: stdin is a terminal: give -i FILE or redirect an archive in")
            path = _spool(sys.stdin.buffer, os.path.join(st.root, "tmp"))
        try:
            loaded = (layout if layout.is_layout(path) else archive).load(st, path)
        except HullError as e:
            e.msg = e.msg.replace(path, args.input or "stdin")  # never our temporary file's name
            raise
        finally:
            if not args.input:
                os.unlink(path)
    if not args.quiet:
        for item in loaded:
            print(f"Loaded image: {item.familiar()}" if not isinstance(item, str) else f"Loaded image ID: {item}")
    return 0


def _spool(src, tmp_dir: str) -> str:
    """stdin to a temporary file: archives are read out of order."""
    import shutil
    import tempfile
    fd, path = tempfile.mkstemp(dir=tmp_dir, prefix="stdin-")
    with os.fdopen(fd, "wb") as f:
        shutil.copyfileobj(src, f, 1 << 20)
    return path


def cmd_save(args):
    from runtime.image import archive, layout
    names = [args.image] + args.command
    if args.format not in ("docker-archive", "oci-archive", "oci-dir"):
        raise InvalidArgument(f"save: unknown --format {args.format!r} (docker-archive, oci-archive, oci-dir)")
    out = args.output
    if not out:
        if args.format == "oci-dir":
            raise InvalidArgument("save: --format oci-dir writes a directory: give -o DIR")
        if sys.stdout.isatty():
            raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    with store(args) as st:
        path = out or os.path.join(st.root, "tmp", f"stdout-{os.getpid()}.tar")
        try:
            if args.format == "docker-archive":
                archive.save(st, names, path)
            else:
                layout.save(st, names, path, archive=args.format == "oci-archive")
            if not out:
                import shutil
                with open(path, "rb") as f:
                    shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
                sys.stdout.flush()
        finally:
            if not out and os.path.exists(path):
                os.unlink(path)
    return 0


# -- tag, rmi, prune ---------------------------------------------------------------------------------

def cmd_tag(args):
    from runtime.image.reference import parse as parse_ref
    with store(args) as st:
        _, desc = st.lookup(args.source_image)
        st.tag(parse_ref(args.target_image), desc)
    return 0


def cmd_rmi(args):
    """docker's rules (service.images.removal): a name is untagged, and the image deleted once it
    has no name left; an ID with several names, or an image a container uses, needs -f."""
    from runtime.engine import containers
    from runtime.engine.service import images as service
    users = containers.image_users(args.root)
    failed = 0
    for text in [args.image] + args.command:
        try:
            for entry in service.remove(args.root, text, bool(args.force), users):
                key, value = next(iter(entry.items()))
                print(f"{key}: {value}")
        except HullError as e:
            sys.stderr.write(f"Error: {e.msg}\n")
            failed += 1
    return 125 if failed else 0


def cmd_prune(args):
    question = ("WARNING! This will remove all images without at least one container associated to them."
                if args.all else "WARNING! This will remove all dangling images.")
    if not args.force and not confirm(question):
        return 0
    removed, freed = prune_images(args, every=args.all)
    display.deleted("Images", removed)
    display.reclaimed(freed)
    return 0


def prune_images(args, every: bool) -> tuple:
    """Remove dangling images (every: all images) no container uses: (docker's lines, bytes freed)."""
    from runtime.engine.containers import image_users
    users = image_users(args.root)
    removed = []
    with store(args) as st:
        before = _store_bytes(st.root)
        from runtime.image.store import is_cache
        for ref, desc in st.entries():
            image_id = st.image_id(desc)
            if image_id in users or (ref is not None and not every) or is_cache(desc):
                continue  # (build steps go with `builder prune`)
            for r in st.remove(image_id):
                removed.append(f"untagged: {r.familiar()}")
            if f"deleted: {image_id}" not in removed:
                removed.append(f"deleted: {image_id}")
        st.prune()
        return removed, before - _store_bytes(st.root)


def confirm(question: str) -> bool:
    """docker's prompt: the answer is read from stdin, and anything but y/yes is no."""
    sys.stdout.write(f"{question}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    if not sys.stdin.isatty():
        sys.stdout.write("\n")
    return answer in ("y", "yes")


def _store_bytes(root: str) -> int:
    from runtime.engine.containers import du
    return du(root)


# -- inspect, history --------------------------------------------------------------------------------

_CONFIG_DEFAULTS = {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
                    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
                    "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
                    "OnBuild": None, "Labels": None}


def inspect_image(st, text: str) -> dict:
    """docker's image inspect object."""
    _, desc = st.lookup(text)
    manifest = st.manifest(desc)
    config = st.config(manifest)
    image_id = manifest["config"]["digest"]
    size = st.size(desc)
    return {
        "Id": image_id, "RepoTags": [r.familiar() for r in st.names_of(image_id) if r.tag],
        "RepoDigests": [_familiar_digest(d) for d in st.repo_digests(image_id)],
        "Parent": "", "Comment": config.get("comment", ""), "Created": config.get("created", ""),
        "DockerVersion": config.get("docker_version", ""), "Author": config.get("author", ""),
        "Config": {**_CONFIG_DEFAULTS, **(config.get("config") or {})},
        "Architecture": config.get("architecture", ""), "Variant": config.get("variant"),
        "Os": config.get("os", ""), "Size": size, "VirtualSize": size,
        "GraphDriver": {"Data": {"LowerDir": ":".join(reversed(st.layer_dirs(desc)))}, "Name": "overlay"},
        "RootFS": {"Type": "layers", "Layers": (config.get("rootfs") or {}).get("diff_ids", [])},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }


def _familiar_digest(text: str) -> str:
    from runtime.image.reference import parse as parse_ref
    return parse_ref(text).familiar()


def print_inspect(objects: list, fmt: str | None) -> None:
    """JSON like docker's (a list, 4-space indent), or each object through --format."""
    if fmt:
        from runtime.cli.template import expand, render
        for obj in objects:
            sys.stdout.write(render(expand(fmt), obj) + "\n")
    else:
        sys.stdout.write(json.dumps(objects, indent=4) + "\n")


def cmd_inspect(args):
    """Several names: print those found, fail (exit 125) for the rest, as docker does."""
    out, missing = [], []
    with store(args) as st:
        for name in [args.image] + args.command:
            try:
                out.append(inspect_image(st, name))
            except NotFound:
                missing.append(name)
    if out or not args.format:
        print_inspect(out, args.format)
    for name in missing:
        sys.stderr.write(f"Error: No such image: {name}\n")
    return 125 if missing else 0


HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                   "Size": "SIZE", "Comment": "COMMENT"}


def cmd_history(args):
    from runtime.cli.template import Struct, format_rows
    human = str(args.human).lower() not in ("false", "0")
    with store(args) as st:
        _, desc = st.lookup(args.image)
        manifest = st.manifest(desc)
        config = st.config(manifest)
        sizes = st.layer_sizes(desc)
    history = config.get("history") or [{"created": config.get("created", "")} for _ in sizes]
    rows, layer = [], 0
    for h in history:
        empty = h.get("empty_layer", False)
        size = 0 if empty or layer >= len(sizes) else sizes[layer]
        layer += 0 if empty else 1
        created_by = h.get("created_by", "")
        if not args.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        rows.append(Struct({
            "ID": "<missing>", "CreatedSince": display.since(h.get("created", "")) if human else h.get("created", ""),
            "CreatedAt": h.get("created", ""), "CreatedBy": created_by,
            "Size": display.human_size(size) if human else str(size), "Comment": h.get("comment", "")}))
    rows.reverse()
    if rows:
        rows[0]["ID"] = _short(manifest["config"]["digest"], args.no_trunc)
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    fmt = args.format or "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    sys.stdout.write(format_rows(fmt, rows, HISTORY_HEADERS))
    return 0


HANDLERS = {"pull": cmd_pull, "push": cmd_push, "login": cmd_login, "logout": cmd_logout, "images": cmd_images,
            "import": cmd_import, "load": cmd_load, "save": cmd_save, "tag": cmd_tag, "rmi": cmd_rmi,
            "prune": cmd_prune, "image-inspect": cmd_inspect, "history": cmd_history}
