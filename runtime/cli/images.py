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
    from runtime.engine.service.images import store
    return store(args.root)


def _short(image_id: str, no_trunc: bool = False) -> str:
    return image_id if no_trunc else image_id.removeprefix("sha256:")[:12]


# -- images ----------------------------------------------------------------------------------------------

IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
                 "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "VirtualSize": "SIZE",
                 "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE"}


def image_rows(args) -> list:
    """One row per name of each ImageSummary (untagged images: one <none> row), docker's fields."""
    import time
    from runtime.cli.containers import filters_body
    from runtime.cli.template import Struct
    from runtime.engine.service import images as service
    filters = filters_body(args.filter)
    if getattr(args, "reference", None):  # `hull images NAME`: as docker's CLI, a reference filter
        from runtime.image.reference import parse as parse_ref
        filters.setdefault("reference", []).append(parse_ref(args.reference, default_tag=None).familiar())
    now, rows = time.time(), []
    for s in service.summaries(args.root, bool(getattr(args, "all", False)), filters):
        names = [tuple(t.rsplit(":", 1)) for t in s["RepoTags"]] or \
            list(dict.fromkeys((d.split("@")[0], "<none>") for d in s["RepoDigests"])) or [("<none>", "<none>")]
        size = display.human_size(s["Size"])
        created = s["Created"]
        for repo, tag in names:
            digest = next((d.split("@")[1] for d in s["RepoDigests"] if d.split("@")[0] == repo), "<none>")
            rows.append(Struct({
                "Containers": "N/A", "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(created))
                if created else "", "CreatedSince": display.human_duration(now - created) + " ago" if created else "N/A",
                "Digest": digest, "ID": _short(s["Id"], args.no_trunc), "Repository": repo, "SharedSize": "N/A",
                "Size": size, "Tag": tag, "UniqueSize": "N/A", "VirtualSize": size}))
    return rows


def cmd_images(args):
    rows = image_rows(args)
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
    from runtime.engine.service import images as service
    print(service.import_(args.root, args.file, args.reference, args.change or []))
    return 0


def cmd_pull(args):
    from runtime.engine.service import images as service
    from runtime.image import transfer
    print(service.pull(args.root, args.image, args.platform, args.config, transfer.Progress(quiet=args.quiet)))
    return 0


def cmd_push(args):
    from runtime.engine.service import images as service
    from runtime.image import transfer
    digest = service.push(args.root, args.image, args.config, transfer.Progress(quiet=args.quiet))
    if args.quiet:
        print(digest)
    return 0


def cmd_login(args):
    from runtime.image.config import login_server
    from runtime.image import transfer
    from runtime.image.config import Config
    domain = login_server(args.server)
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
    from runtime.image.config import login_server
    from runtime.image.config import Config
    domain = login_server(args.server)
    if Config(args.config).remove_credentials(domain):
        print(f"Removing login credentials for {domain}")
    else:
        print(f"Not logged in to {domain}")
    return 0


# -- load, save --------------------------------------------------------------------------------------

def cmd_load(args):
    from runtime.engine.service import images as service
    if args.input:
        if not os.path.exists(args.input):
            raise InvalidArgument(f"{args.input}: no such file or directory")
        loaded = service.load(args.root, args.input)
    else:
        if sys.stdin.isatty():
            raise InvalidArgument("load: stdin is a terminal: give -i FILE or redirect an archive in")
        import shutil
        with service.Spool(args.root, "stdin-") as spool:  # archives are read out of order
            with open(spool.path, "wb") as f:
                shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
            loaded = service.load(args.root, spool.path, shown_as="stdin")
    if not args.quiet:
        for item in loaded:
            print(f"Loaded image: {item.familiar()}" if not isinstance(item, str) else f"Loaded image ID: {item}")
    return 0


def cmd_save(args):
    from runtime.engine.service import images as service
    names = [args.image] + args.command
    out = args.output
    if not out:
        if args.format == "oci-dir":
            raise InvalidArgument("save: --format oci-dir writes a directory: give -o DIR")
        if sys.stdout.isatty():
            raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    spool = None if out else service.Spool(args.root, "stdout-")
    path = out or spool.path
    try:
        service.save(args.root, names, path, args.format)
        if not out:
            import shutil
            with open(path, "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
            sys.stdout.flush()
    finally:
        if spool:
            spool.close()
    return 0


# -- tag, rmi, prune ---------------------------------------------------------------------------------

def cmd_tag(args):
    from runtime.engine.service import images as service
    service.tag(args.root, args.source_image, args.target_image)
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
            display.error(e.msg)
            if not (args.force and isinstance(e, NotFound)):  # docker: rmi -f of nothing is no failure
                failed += 1
    return display.REFUSED if failed else 0


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
    """docker's prune lines for images (untagged: X, deleted: ID) and the bytes freed."""
    from runtime.engine.service import images as service
    report = service.prune(args.root, every)
    lines = [f"{k.lower()}: {v}" for entry in report["ImagesDeleted"] for k, v in entry.items()]
    return lines, report["SpaceReclaimed"]


def confirm(question: str) -> bool:
    """docker's prompt: the answer is read from stdin, and anything but y/yes is no."""
    sys.stdout.write(f"{question}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    if not sys.stdin.isatty():
        sys.stdout.write("\n")
    return answer in ("y", "yes")


# -- inspect, history --------------------------------------------------------------------------------

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
    from runtime.engine.service import images as service
    out, missing = [], []
    for name in [args.image] + args.command:
        try:
            out.append(service.inspect(args.root, name))
        except NotFound:
            missing.append(name)
    if out or not args.format:
        print_inspect(out, args.format)
    for name in missing:
        sys.stderr.write(f"Error: No such image: {name}\n")
    return display.REFUSED if missing else 0


HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                   "Size": "SIZE", "Comment": "COMMENT"}


def cmd_history(args):
    from runtime.cli.template import Struct, format_rows
    from runtime.engine.service import images as service
    human = str(args.human).lower() not in ("false", "0")
    rows = []
    for h in service.history(args.root, args.image):
        created_by = h["CreatedBy"]
        if not args.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        rows.append(Struct({
            "ID": h["Id"] if h["Id"] == "<missing>" else _short(h["Id"], args.no_trunc),
            "CreatedSince": display.since(h["Created"]) if human else h["Created"], "CreatedAt": h["Created"],
            "CreatedBy": created_by, "Size": display.human_size(h["Size"]) if human else str(h["Size"]),
            "Comment": h["Comment"]}))
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
