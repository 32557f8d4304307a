"""Images, as docker's API answers for them (see service/__init__.py)."""
import os

from runtime import fastjson as json
from runtime.engine import events
from runtime.errors import Conflict, HullError, InvalidArgument


def store(root: str):
    """The root's image store (ROOT/images)."""
    from runtime.image.store import Store
    path = os.path.join(root, "images")
    if not os.path.isdir(path) and os.geteuid() != 0:
        raise InvalidArgument(f"{path} does not exist (hull's store needs root to create it)")
    return Store(path)


def removal(by_name: bool, names: int, using: list, force: bool) -> str:
    """docker's rmi rules: "untag" (a name of an image that has others: only that name goes, -f or
    not), "delete" (every name and, when no container uses it, the image), or a Conflict that -f
    overrides."""
    if by_name and names > 1:
        return "untag"
    if using and not force:
        raise Conflict(f"container {using[0][:12]} is using it")
    if not by_name and names > 1 and not force:
        raise Conflict("image is referenced in multiple repositories")
    return "delete"


def remove(root: str, text: str, force: bool = False, users: dict | None = None) -> list:
    """DELETE /images/{name}: docker's report, [{"Untagged": NAME}, ..., {"Deleted": ID}]. users
    ({image ID: [container IDs]}) saves a scan when many are removed at once."""
    from runtime.engine import containers
    from runtime.image.reference import parse as parse_ref
    users = containers.image_users(root) if users is None else users
    report = []
    with store(root) as st:
        ref, desc = st.resolve(text)
        image_id = st.image_id(desc)
        names = st.names_of(image_id)
        using = users.get(image_id, [])
        try:
            rule = removal(ref is not None, len(names), using, force)
        except Conflict as e:
            what = f"repository reference {text!r}" if ref is not None else image_id[7:19]
            if using:
                raise Conflict(f"conflict: unable to remove {what} (must force) - container {using[0][:12]} is "
                               f"using its referenced image {image_id[7:19]}") from None
            raise Conflict(f"conflict: unable to delete {image_id[7:19]} (must be forced) - {e.msg}") from None
        if rule == "untag":
            st.untag(ref)
            report = [{"Untagged": ref.familiar()}]
            _report_events(root, image_id, report)
            return report
        digests = st.repo_digests(image_id)
        report += [{"Untagged": r.familiar()} for r in st.remove(image_id)]
        report += [{"Untagged": parse_ref(d).familiar()} for d in digests if parse_ref(d) not in names]
        if not using:
            report.append({"Deleted": image_id})
        st.prune()
    _report_events(root, image_id, report)
    return report


def _report_events(root: str, image_id: str, report: list) -> None:
    """docker's untag and delete events, one per line of a removal's report."""
    for line in report:
        if "Untagged" in line:
            events.emit(root, "image", "untag", image_id, {"name": line["Untagged"]})
        else:
            events.emit(root, "image", "delete", image_id, {"name": image_id})


def prune(root: str, every: bool = False) -> dict:
    """POST /images/prune: dangling images (every: all images) no container uses, build steps
    aside; {"ImagesDeleted": [{"Untagged"}, {"Deleted"}], "SpaceReclaimed"}."""
    from runtime.engine.containers import du, image_users
    from runtime.image.store import is_cache
    users = image_users(root)
    removed = []
    with store(root) as st:
        before = du(st.root)
        for ref, desc in st.entries():
            image_id = st.image_id(desc)
            if image_id in users or (ref is not None and not every) or is_cache(desc):
                continue  # (build steps go with the build cache's prune)
            removed += [{"Untagged": r.familiar()} for r in st.remove(image_id)]
            if {"Deleted": image_id} not in removed:
                removed.append({"Deleted": image_id})
        st.prune()
        return {"ImagesDeleted": removed, "SpaceReclaimed": before - du(st.root)}


def prune_cache(root: str) -> dict:
    """POST /build/prune: every build step forgotten, what only they used freed;
    {"CachesDeleted": [IDs], "SpaceReclaimed"}."""
    from runtime.engine.containers import du
    with store(root) as st:
        before = du(st.root)
        ids = sorted({st.image_id(d) for d in st.cache_entries()})
        st.cache_clear()
        st.prune()
        return {"CachesDeleted": [i.removeprefix("sha256:")[:25] for i in ids], "SpaceReclaimed": before - du(st.root)}


def summaries(root: str, all: bool = False, filters: dict | None = None) -> list:
    """GET /images/json: docker's ImageSummary list, newest first. filters: dangling, reference
    (a glob on the familiar name, with or without the tag: RepoTags keep only matching names),
    before, since, label. all: build steps too (docker's intermediate images)."""
    from runtime.clock import parse_time
    from runtime.engine.containers import image_users
    from runtime.image.store import is_cache
    tests, patterns = [], []
    with store(root) as st:
        for key, values in (filters or {}).items():
            for value in values:
                if key == "reference":
                    patterns.append(value)
                else:
                    tests.append(_image_filter(st, key, value))
        entries = st.entries()
        listed = {desc["digest"] for _, desc in entries if not is_cache(desc)}
        users = image_users(root)
        by_id = {}
        for ref, desc in entries:
            if is_cache(desc) and (not all or desc["digest"] in listed):
                continue
            image_id = st.image_id(desc)
            if image_id not in by_id:
                manifest = st.manifest(desc)
                config = st.config(manifest)
                by_id[image_id] = ({"Id": image_id, "ParentId": "", "RepoTags": [], "RepoDigests": [],
                                    "Created": int(parse_time(config.get("created", "")) or 0),
                                    "Size": st.size(desc), "SharedSize": -1, "VirtualSize": st.size(desc),
                                    "Labels": (config.get("config") or {}).get("Labels") or {},
                                    "Containers": len(users.get(image_id, []))}, config, [])
            by_id[image_id][2].append(ref)
        out = []
        for image_id, (summary, config, refs) in by_id.items():
            named = [r for r in refs if r is not None]
            if patterns:
                named = [r for r in named if any(_matches(r, p) for p in patterns)]
                if not named:
                    continue
            if not all_match(tests, named, image_id, config):
                continue
            summary["RepoTags"] = [r.familiar() for r in named if r.tag]
            summary["RepoDigests"] = list(dict.fromkeys([_familiar_digest(d) for d in st.repo_digests(image_id)] +
                [r.familiar() for r in named if not r.tag and r.digest]))
            out.append(summary)
    return sorted(out, key=lambda s: s["Created"], reverse=True)


def all_match(tests: list, named: list, image_id: str, config: dict) -> bool:
    return all(t(named, image_id, config) for t in tests)


def _matches(ref, pattern: str) -> bool:
    import fnmatch
    name = ref.familiar()
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name.rsplit(":", 1)[0], pattern)


def _image_filter(st, key: str, value: str):
    """docker's image filters, each a predicate (names, image ID, config)."""
    from runtime.clock import parse_time
    if key == "dangling":
        if value not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")
        return lambda named, i, c, d=value in ("true", "1"): (not named) == d
    if key in ("before", "since"):
        _, desc = st.lookup(value)
        pivot = parse_time(st.config(st.manifest(desc)).get("created", "")) or 0
        cmp = (lambda t: t < pivot) if key == "before" else (lambda t: t > pivot)
        return lambda named, i, c: cmp(parse_time(c.get("created", "")) or 0)
    if key == "label":
        k, has_value, v = value.partition("=")
        return lambda named, i, c: k in ((c.get("config") or {}).get("Labels") or {}) and \
            (not has_value or c["config"]["Labels"][k] == v)
    raise InvalidArgument(f"invalid filter {key!r} (dangling, reference, before, since, label)")


_CONFIG_DEFAULTS = {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
                    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
                    "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
                    "OnBuild": None, "Labels": None}


def inspect(root: str, text: str) -> dict:
    """GET /images/{name}/json: docker's ImageInspect."""
    with store(root) as st:
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


def history(root: str, text: str) -> list:
    """GET /images/{name}/history: newest first, [{"Id", "Created", "CreatedBy", "Tags", "Size",
    "Comment"}]; Created as RFC 3339 here (the API's seconds are its caller's to make)."""
    with store(root) as st:
        _, desc = st.lookup(text)
        manifest = st.manifest(desc)
        config = st.config(manifest)
        sizes = st.layer_sizes(desc)
    entries = config.get("history") or [{"created": config.get("created", "")} for _ in sizes]
    out, layer = [], 0
    for h in entries:
        empty = h.get("empty_layer", False)
        size = 0 if empty or layer >= len(sizes) else sizes[layer]
        layer += 0 if empty else 1
        out.append({"Id": "<missing>", "Created": h.get("created", ""), "CreatedBy": h.get("created_by", ""),
                    "Tags": None, "Size": size, "Comment": h.get("comment", "")})
    out.reverse()
    if out:
        out[0]["Id"] = manifest["config"]["digest"]
    return out


# -- moving images: pull, push, import, load, save, tag ------------------------------------------------

def pull(root: str, name: str, platform: str, config_dir: str | None, progress) -> str:
    """POST /images/create?fromImage=: the image from its registry; progress is a
    transfer.Progress (a writer passed in). Returns the reference as docker prints it."""
    from runtime.image import transfer
    from runtime.image.config import Config
    from runtime.image.reference import parse as parse_ref
    ref = parse_ref(name)
    with store(root) as st:
        transfer.pull(st, ref, platform, Config(config_dir), progress)
    shown = str(ref) if not (ref.digest and ref.tag) else f"{ref.name}@{ref.digest}"
    events.emit(root, "image", "pull", shown, {"name": shown})
    return shown


def auth(body: dict, config_dir: str | None) -> dict:
    """POST /auth: the registry accepts {username, password, serveraddress} (nothing is kept: the
    client keeps its credentials and sends them with each pull and push)."""
    from runtime.image import transfer
    from runtime.image.config import Config, login_server
    if not body.get("username") or not body.get("password"):
        raise InvalidArgument("a user name and a password are required")
    transfer.check_login(login_server(body.get("serveraddress")), body["username"], body["password"], Config(config_dir))
    return {"Status": "Login Succeeded", "IdentityToken": ""}


def push(root: str, name: str, config_dir: str | None, progress) -> str:
    """POST /images/{name}/push: the manifest's digest."""
    from runtime.image import transfer
    from runtime.image.config import Config
    with store(root) as st:
        digest = transfer.push(st, name, Config(config_dir), progress)
    events.emit(root, "image", "push", name, {"name": name})
    return digest


def import_(root: str, path: str, reference: str | None, changes: list) -> str:
    """POST /images/create?fromSrc=: a rootfs tar as a one-layer image; changes are Dockerfile
    lines (CMD only). Returns the image ID."""
    from runtime.image import archive
    cmd = None
    for change in changes or []:
        word, _, value = change.partition(" ")
        if word.upper() != "CMD":
            raise InvalidArgument(f"--change {change!r}: only CMD is supported")
        try:
            cmd = json.loads(value)
        except ValueError:
            cmd = ["/bin/sh", "-c", value]
    if not os.path.isfile(path):
        raise InvalidArgument(f"{path}: no such file")
    with store(root) as st:
        image_id = st.image_id(archive.import_rootfs(st, path, reference, cmd))
    events.emit(root, "image", "import", image_id, {"name": reference or image_id})
    return image_id


def load(root: str, path: str, shown_as: str | None = None) -> list:
    """POST /images/load: a docker-archive or an OCI layout (dir or tar); what was loaded,
    [Reference or image ID]. shown_as replaces path in messages (a spooled stdin)."""
    from runtime.image import archive, layout
    with store(root) as st:
        try:
            loaded = (layout if layout.is_layout(path) else archive).load(st, path)
        except HullError as e:
            if shown_as:
                e.msg = e.msg.replace(path, shown_as)  # never a temporary file's name
            raise
    for name in loaded:
        events.emit(root, "image", "load", name, {"name": name})
    return loaded


def save(root: str, names: list, path: str, fmt: str = "docker-archive") -> None:
    """GET /images/get: names as a docker-archive (or oci-archive, oci-dir) at path."""
    from runtime.image import archive, layout
    if fmt not in ("docker-archive", "oci-archive", "oci-dir"):
        raise InvalidArgument(f"save: unknown --format {fmt!r} (docker-archive, oci-archive, oci-dir)")
    with store(root) as st:
        if fmt == "docker-archive":
            archive.save(st, names, path)
        else:
            layout.save(st, names, path, archive=fmt == "oci-archive")
    for name in names:
        events.emit(root, "image", "save", name, {"name": name})


def tag(root: str, source: str, target: str) -> None:
    """POST /images/{name}/tag."""
    from runtime.image.reference import parse as parse_ref
    with store(root) as st:
        _, desc = st.lookup(source)
        st.tag(parse_ref(target), desc)
        image_id = st.image_id(desc)
    events.emit(root, "image", "tag", image_id, {"name": parse_ref(target).familiar()})


class Spool:
    """A new file in the store's tmp/ for what a caller streams (stdin, a request body, stdout):
    on the store's filesystem, so the store can rename it in. Claimed (Store.claim_tmp) until
    close(), which removes it, so a prune meanwhile leaves it alone."""

    def __init__(self, root: str, prefix: str):
        import tempfile
        st = store(root)
        self.claim = st.claim_tmp()
        fd, self.path = tempfile.mkstemp(dir=os.path.join(st.root, "tmp"), prefix=prefix)
        os.close(fd)

    def close(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.claim.release()

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
