"""A build's COPY, ADD and WORKDIR steps: files written straight into a new layer directory
(files.py), from the context, a URL or an earlier stage."""
import hashlib
import os
import shutil

from runtime import fastjson as json
from runtime.engine.build import files
from runtime.engine.build.dockerfile import DockerfileError, Instruction, substitute, words
from runtime.engine.build.files import Layer, Owner, destination
from runtime.engine.build.stage import BuildError, Image, Stage, _load
from runtime.engine.changes import Lower
from runtime.errors import HullError, NotFound


class FileSteps:
    """Builder's COPY, ADD and WORKDIR (a mixin: it uses the Builder's cache, commit and context)."""

    def _workdir(self, image: Image, inst: Instruction, variables: dict) -> Image:
        path = substitute(inst.args.strip(), variables, self.escape, keep_quotes=False)
        if not path:
            raise DockerfileError(f"line {inst.line}: WORKDIR requires exactly one argument")
        new = os.path.normpath(os.path.join(image.cfg.get("WorkingDir") or "/", path))
        key = self._key(image, "WORKDIR", new)
        hit = self._cached(key)
        if hit is not None:
            return hit
        cfg = json.loads(json.dumps(image.cfg))
        cfg["WorkingDir"] = new
        created_by = f"/bin/sh -c #(nop) WORKDIR {new}"
        lower = self._lower(image)
        if files.is_dir(lower, new):
            return self._commit(image, cfg, created_by, key)
        # made by the step (owned by USER, as buildah and BuildKit make it): a layer
        owner = self._owner(lower, cfg.get("User") or "0", inst)
        layer = Layer(self._tmp("workdir-"), lower)
        try:
            layer.make_dirs(new, owner)
            return self._commit(image, cfg, created_by, key, layer.path)
        finally:
            shutil.rmtree(layer.path, ignore_errors=True)

    def _owner(self, lower: Lower, user: str, inst: Instruction, chown: bool = False) -> tuple:
        """(uid, gid) of USER or --chown, names looked up in the image's /etc/passwd and group.
        --chown=UID without a group means UID:UID (docker's rule)."""
        from runtime.engine.bundle import resolve_user

        def table(path):
            real = lower.find(lower.resolve(path))
            try:
                with open(real) as f:
                    return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
            except (OSError, TypeError, UnicodeDecodeError):
                return []
        name, _, group = user.partition(":")
        try:
            u = resolve_user("", user, table)
        except HullError as e:
            raise DockerfileError(f"line {inst.line}: {e.msg}") from None
        if chown and name.isdigit() and not group:
            return u["uid"], u["uid"]
        return u["uid"], u["gid"]

    def _copy(self, stage: Stage, image: Image, inst: Instruction, variables: dict) -> Image:
        add = inst.name == "ADD"
        argv = inst.json_args()
        if argv is not None:
            argv = [substitute(a, variables, self.escape, keep_quotes=False) for a in argv]
        else:
            argv = words(inst.args, variables, self.escape)
        if len(argv) < 2:
            raise DockerfileError(f"line {inst.line}: {inst.name} requires at least two arguments")
        patterns, dest = argv[:-1], destination(argv[-1], image.cfg.get("WorkingDir") or "/")
        chown = substitute(inst.flags.get("chown", ""), variables, self.escape, keep_quotes=False)
        chmod = inst.flags.get("chmod")
        mode = None
        if chmod:
            try:
                mode = int(chmod, 8)
            except ValueError:
                raise DockerfileError(f"line {inst.line}: invalid --chmod={chmod}: an octal mode") from None
        source_from = substitute(inst.flags.get("from", ""), variables, self.escape, keep_quotes=False)
        if source_from and add:
            raise DockerfileError(f"line {inst.line}: ADD has no --from (use COPY)")
        multi = len(patterns) > 1 or any(ch in p for p in patterns for ch in "*?[")
        if multi and not dest.endswith("/"):
            raise DockerfileError(f"line {inst.line}: When using {inst.name} with more than one source file, "
                                  "the destination must be a directory and end with a /")
        cleanup = []
        try:
            if source_from:
                sources, digest, keep_owner = self._sources_from(stage, source_from, patterns, inst, cleanup)
            else:
                sources, digest = self._sources_context(patterns, inst, add, cleanup)
                keep_owner = False
            summary = ("dir" if len(sources) == 1 and sources[0][2] == "dir" else "file" if len(sources) == 1
                       else "multi")
            created_by = f"/bin/sh -c #(nop) {inst.name} {summary}:{digest.removeprefix('sha256:')} in {argv[-1]} "
            key = self._key(image, inst.name, argv, chown, chmod, source_from, digest)
            hit = self._cached(key)
            if hit is not None:
                return hit
            lower = self._lower(image)
            if chown:
                owner = Owner(*self._owner(lower, chown, inst, chown=True))
            else:
                owner = Owner() if keep_owner else Owner(0, 0)
            layer = Layer(self._tmp("copy-"), lower)
            cleanup.append(layer.path)
            for name, host, kind, skip in sources:
                if kind in ("dir", "archive"):
                    layer.put_contents(host, dest, Owner() if kind == "archive" and not chown else owner, mode,
                                       skip)
                    continue
                to_dir = dest.endswith("/") or layer.is_dir(dest)
                target = f"{dest.rstrip('/')}/{name}" if to_dir else dest
                parent = layer.make_dirs(os.path.dirname(target), (owner.uid or 0, owner.gid or 0))
                layer.put(host, f"{parent}/{os.path.basename(target)}", owner, mode if kind != "url" else
                          (mode if mode is not None else 0o600))
            return self._commit(image, json.loads(json.dumps(image.cfg)), created_by, key, layer.path)
        finally:
            for item in reversed(cleanup):
                if callable(item):
                    item()
                else:
                    shutil.rmtree(item, ignore_errors=True)

    def _sources_context(self, patterns: list, inst: Instruction, add: bool, cleanup: list) -> tuple:
        """[(name, host path, kind, skip)] from the context (or URLs for ADD), and their digest."""
        from runtime.engine.build import remote
        out, h = [], hashlib.sha256()
        ctx = self.context
        for pattern in patterns:
            if add and remote.is_url(pattern):
                path, name = remote.fetch(pattern, self._tmp("add-"), inst.line)
                cleanup.append(os.path.dirname(path))
                out.append((name, path, "url", None))
                h.update(f"url\0{pattern}\0{remote.digest(path)}\0".encode())
                continue
            for name, rel in ctx.sources(pattern, inst.line):
                host = ctx.path(rel)
                kind = "dir" if os.path.isdir(host) else "file"
                if add and kind == "file" and remote.is_archive(host):
                    work = self._tmp("add-")
                    cleanup.append(work)
                    remote.extract(host, work, inst.line)
                    out.append((name, work, "archive", None))
                else:
                    out.append((name, host, kind, (lambda r, base=rel: ctx.ignore.ignored(
                        os.path.join(base, r) if base else r)) if kind == "dir" else None))
                h.update(f"{kind}\0{name}\0{ctx.digest([rel])}\0".encode())
        return out, "sha256:" + h.hexdigest()

    def _sources_from(self, stage: Stage, ref: str, patterns: list, inst: Instruction, cleanup: list) -> tuple:
        """COPY --from: the other stage's (or image's) files, from a read-only mount of it."""
        import glob

        from runtime.image import rootfs
        from runtime.linux.mounts import secure_join
        other = self._stage(ref, stage.index)
        if other is not None:
            image = other.image
        else:
            with self.store() as st:
                try:
                    image = _load(st, st.lookup(ref)[1])
                except NotFound:
                    raise BuildError(f"{self.filename}:{inst.line}: COPY --from={ref}: no stage or image of that "
                                     "name (images are not pulled for --from)") from None
        if not image.layers:
            raise BuildError(f"{self.filename}:{inst.line}: COPY --from={ref}: the image has no files")
        work = self._tmp("from-")
        cleanup.append(work)
        with self.store() as st:
            merged = rootfs.mount(st, image.desc, work)
        cleanup.append(lambda: rootfs.unmount(work))
        out = []
        for pattern in patterns:
            norm = os.path.normpath("/" + pattern)
            if any(ch in norm for ch in "*?["):
                found = sorted(glob.glob(merged + norm))
                names = [(os.path.basename(p), p) for p in found]
            else:
                names = [(os.path.basename(norm), secure_join(merged, norm))]
            names = [(n, secure_join(merged, os.path.relpath(p, merged))) for n, p in names]
            names = [(n, p) for n, p in names if os.path.lexists(p)]
            if not names:
                raise BuildError(f"{self.filename}:{inst.line}: COPY --from={ref}: {pattern}: no such file or "
                                 "directory")
            out += [(n, p, "dir" if os.path.isdir(p) else "file", None) for n, p in names]
        digest = hashlib.sha256(json.dumps([image.id, patterns]).encode()).hexdigest()  # content-addressed
        return out, digest, True
