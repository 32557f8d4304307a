"""hull: the docker-style engine. Today: the image commands (the store in runtime/image).

    hull pull [--platform os/arch] NAME / hull push NAME   to and from a registry (OCI distribution API)
    hull login [-u USER] [--password-stdin] REGISTRY / hull logout REGISTRY   credentials (~/.hull)
    hull import ROOTFS.tar NAME[:TAG]     one-layer image from a root filesystem tar
    hull load -i PATH / hull save [--format oci-dir] -o PATH IMAGE...   docker-archive, OCI layouts
    hull images [-q] [--digests] [--format '{{.Repository}}:{{.Tag}}']
    hull tag SOURCE TARGET, hull rmi IMAGE..., hull image inspect|prune|ls|rm, hull history IMAGE

Errors exit 125 like docker's; `--root` (default /var/lib/hull) holds the store under images/,
`--config` (default ~/.hull) the credentials and insecure registries (runtime/image/config.py).
"""
import os
import sys

from runtime import __version__
from runtime import fastjson as json
from runtime.cli.args import Flag, Verb, help_text, parse
from runtime.errors import HullError, InvalidArgument

GLOBAL_FLAGS = [
    Flag("root", value=True, default="/var/lib/hull", help="hull's data directory (default /var/lib/hull)"),
    Flag("config", value=True, help="credentials and registry settings (default $HULL_CONFIG or ~/.hull)"),
    Flag("version", "v", help="print the version"),
    Flag("help", "h", help="show help"),
]

VERB_TABLE = {v.name: v for v in [
    Verb("version", "print the version"),
    Verb("images", "list images", [Flag("quiet", "q", help="only image IDs"),
                                   Flag("digests", help="show manifest digests"),
                                   Flag("format", value=True, help="Go-template-like: {{.Repository}} {{.Tag}} {{.ID}} "
                                                                   "{{.Digest}} {{.Size}}"),
                                   Flag("no-trunc", help="full image IDs")], [], ["reference"]),
    Verb("import", "create an image from a root filesystem tar", [Flag("change", "c", value=True, many=True,
                                                                      help="CMD [\"sh\"] (JSON form only)")],
         ["file", "reference"]),
    Verb("pull", "fetch an image from a registry", [Flag("platform", value=True, default="linux/amd64",
                                                          help="os/arch[/variant] to choose from an index"),
                                                     Flag("quiet", "q", help="print only the name")],
         ["reference"]),
    Verb("push", "send an image to its registry", [Flag("quiet", "q", help="print only the digest")],
         ["reference"]),
    Verb("login", "check and keep credentials for a registry", [
        Flag("username", "u", value=True, help="user name"),
        Flag("password", "p", value=True, help="password (visible to other users: prefer --password-stdin)"),
        Flag("password-stdin", help="read the password from stdin")], [], ["server"]),
    Verb("logout", "forget the credentials for a registry", [], [], ["server"]),
    Verb("load", "load images from a docker-archive, oci-archive or OCI layout directory", [
        Flag("input", "i", value=True, help="the archive or directory"),
                                                      Flag("quiet", "q", help="print nothing")]),
    Verb("save", "write images as a docker-archive or an OCI layout", [
        Flag("output", "o", value=True, help="the archive (or directory, for oci-dir)"),
        Flag("format", value=True, default="docker-archive", help="docker-archive, oci-archive or oci-dir")],
         ["image"], rest=True),
    Verb("tag", "give an image another name", [], ["source", "target"]),
    Verb("rmi", "remove names, and the data no other image uses",
         [Flag("force", "f", help="(accepted; no container uses an image yet)")],
         ["image"], rest=True),
    Verb("history", "show an image's history", [], ["image"]),
    Verb("inspect", "image details as JSON", [], ["image"], rest=True),
    Verb("prune", "remove data no image uses", [Flag("all", "a", help="(accepted; hull keeps only named images)"),
                                                Flag("force", "f", help="do not ask")]),
    Verb("image", "image commands: ls, inspect, rm, prune, history, import, load, save, tag", [], ["action"],
         rest=True),
]}
IMAGE_ACTIONS = {"ls": "images", "list": "images", "inspect": "inspect", "rm": "rmi", "remove": "rmi",
                 "prune": "prune", "history": "history", "import": "import", "load": "load", "save": "save",
                 "tag": "tag"}


def _store(args):
    from runtime.image.store import Store
    root = os.path.join(args.root, "images")
    if not os.path.isdir(root) and os.geteuid() != 0:
        raise InvalidArgument(f"{root} does not exist (hull's store needs root to create it)")
    return Store(root)


def _size(n: int) -> str:
    """docker's sizes: decimal units, three significant digits."""
    if n < 1000:
        return f"{n}B"
    for unit in ("kB", "MB", "GB"):
        n /= 1000
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}"


def _image_rows(store, args):
    rows = []
    want = None
    if args.reference:
        from runtime.image.reference import parse as parse_ref
        want = parse_ref(args.reference, default_tag=None)
    for ref, desc in store.images():
        if want and (ref.name != want.name or (want.tag and ref.tag != want.tag)):
            continue
        manifest = store.manifest(desc)
        image_id = manifest["config"]["digest"]
        config = store.config(manifest)
        size = sum(layer["size"] for layer in manifest["layers"])
        name = ref.familiar().rsplit(":", 1)[0] if ref.tag else ref.familiar().split("@")[0]
        rows.append({"Repository": name, "Tag": ref.tag or "<none>", "Digest": desc["digest"],
                     "ID": image_id if args.no_trunc else image_id.removeprefix("sha256:")[:12],
                     "Created": config.get("created", ""), "Size": _size(size)})
    return rows


def cmd_images(args):
    with _store(args) as store:
        rows = _image_rows(store, args)
    if args.quiet:
        for image_id in dict.fromkeys(r["ID"] for r in rows):  # one line per image, not per name
            print(image_id)
        return 0
    if args.format:
        for r in rows:
            line = args.format
            for k, v in r.items():
                line = line.replace("{{." + k + "}}", v)
            print(line.replace("\\t", "\t"))
        return 0
    cols = ["Repository", "Tag"] + (["Digest"] if args.digests else []) + ["ID", "Created", "Size"]
    table = [[c.upper().replace("ID", "IMAGE ID") for c in cols]] + [[r[c] for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    for row in table:
        print("   ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    return 0


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
    with _store(args) as store:
        desc = archive.import_rootfs(store, args.file, args.reference, cmd)
        print(store.image_id(desc))
    return 0


def cmd_pull(args):
    from runtime.image import transfer
    from runtime.image.config import Config
    from runtime.image.reference import parse as parse_ref
    ref = parse_ref(args.reference)
    config = Config(args.config)
    with _store(args) as store:
        transfer.pull(store, ref, args.platform, config, transfer.Progress(quiet=args.quiet))
    print(str(ref) if args.quiet else f"Status: Downloaded {ref.familiar()}")
    return 0


def cmd_push(args):
    from runtime.image import transfer
    from runtime.image.config import Config
    config = Config(args.config)
    with _store(args) as store:
        digest = transfer.push(store, args.reference, config, transfer.Progress(quiet=args.quiet))
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


def cmd_load(args):
    from runtime.image import archive, layout
    if not args.input:
        raise InvalidArgument("load: -i FILE is required (reading stdin is not supported)")
    if not os.path.exists(args.input):
        raise InvalidArgument(f"{args.input}: no such file or directory")
    with _store(args) as store:
        refs = (layout if layout.is_layout(args.input) else archive).load(store, args.input)
    if not args.quiet:
        for ref in refs:
            print(f"Loaded image: {ref.familiar()}")
    return 0


def cmd_save(args):
    from runtime.image import archive, layout
    if not args.output:
        raise InvalidArgument("save: -o FILE is required (writing to stdout is not supported)")
    names = [args.image] + args.command
    with _store(args) as store:
        if args.format == "docker-archive":
            archive.save(store, names, args.output)
        elif args.format in ("oci-archive", "oci-dir"):
            layout.save(store, names, args.output, archive=args.format == "oci-archive")
        else:
            raise InvalidArgument(f"save: unknown --format {args.format!r} (docker-archive, oci-archive, oci-dir)")
    return 0


def cmd_tag(args):
    from runtime.image.reference import parse as parse_ref
    with _store(args) as store:
        _, desc = store.lookup(args.source)
        store.tag(parse_ref(args.target), desc)
    return 0


def cmd_rmi(args):
    with _store(args) as store:
        for name in [args.image] + args.command:
            ref, _ = store.lookup(name)
            store.untag(ref)
            print(f"Untagged: {ref.familiar()}")
        blobs, layers = store.prune()
        if blobs or layers:
            print(f"Deleted: {blobs} blobs, {layers} layers")
    return 0


def cmd_prune(args):
    with _store(args) as store:
        blobs, layers = store.prune()
    print(f"Deleted {blobs} blobs and {layers} unpacked layers")
    return 0


def cmd_inspect(args):
    out = []
    with _store(args) as store:
        for name in [args.image] + args.command:
            ref, desc = store.lookup(name)
            manifest = store.manifest(desc)
            config = store.config(manifest)
            out.append({"Id": manifest["config"]["digest"], "RepoTags": [ref.familiar()],
                        "RepoDigests": [f"{ref.name}@{desc['digest']}"], "Created": config.get("created", ""),
                        "Architecture": config.get("architecture", ""), "Os": config.get("os", ""),
                        "Config": config.get("config", {}), "RootFS": config.get("rootfs", {}),
                        "Size": sum(layer["size"] for layer in manifest["layers"]),
                        "GraphDriver": {"Name": "overlay", "Data": {
                            "LowerDir": ":".join(reversed(store.layer_dirs(desc)))}}})
    print(json.dumps(out, indent=4))
    return 0


def cmd_history(args):
    with _store(args) as store:
        _, desc = store.lookup(args.image)
        config = store.config(store.manifest(desc))
    print(f"{'CREATED':<22}{'CREATED BY':<50}COMMENT")
    for h in reversed(config.get("history") or []):
        print(f"{h.get('created', ''):<22}{h.get('created_by', '')[:48]:<50}{h.get('comment', '')}")
    return 0


def cmd_image(args):
    verb = IMAGE_ACTIONS.get(args.action)
    if verb is None:
        raise InvalidArgument(f"image: unknown command {args.action!r} (ls, inspect, rm, prune, history, "
                              "import, load, save, tag)")
    return main([f"--root={args.root}"] + ([f"--config={args.config}"] if args.config else []) + [verb] + args.command)


VERBS = {"pull": cmd_pull, "push": cmd_push, "login": cmd_login, "logout": cmd_logout, "images": cmd_images,
         "import": cmd_import, "load": cmd_load, "save": cmd_save, "tag": cmd_tag, "rmi": cmd_rmi,
         "prune": cmd_prune, "inspect": cmd_inspect, "history": cmd_history, "image": cmd_image}


def main(argv=None) -> int:
    try:
        args = parse(sys.argv[1:] if argv is None else argv, GLOBAL_FLAGS, VERB_TABLE)
        if args.version or args.verb == "version":
            print(f"hull version {__version__}")
            return 0
        if args.verb is None or args.verb == "help" or args.help:
            sys.stdout.write(help_text("hull", "The docker-style engine (images today).", GLOBAL_FLAGS,
                                       VERB_TABLE, getattr(args, "topic", None)))
            return 0 if args.verb or args.help else 1
        return VERBS[args.verb](args) or 0
    except HullError as e:
        sys.stderr.write(f"Error: {e.msg}\n")
        return 125
    except OSError as e:
        sys.stderr.write(f"Error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}\n")
        return 125
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
