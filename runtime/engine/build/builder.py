"""`hull build`: a Dockerfile's stages, one step at a time, as docker's classic builder does it.

Every step's result is an image in the store (unnamed; a build cache entry under the step's key):

    FROM            the base: an image (pulled if missing, or always with --pull), an earlier
                    stage, or scratch; its ONBUILD triggers run first
    RUN             a container of the engine (runner.py) on the image so far, with the build's
                    network; its writable layer becomes the step's layer as it is
    COPY, ADD       files written straight into a new layer directory (files.py)
    WORKDIR         a layer only when it makes the directory
    the others      the config changes (metadata.py); the history entry says empty_layer

A step's cache key is its parent image's ID, its instruction after substitution, the build args it
uses (RUN) and the digest of the files it reads (COPY, ADD): one changed file invalidates its step
and those after it, never one before. Stages the target does not need are not built.
"""
import os
import sys
import tempfile

from runtime import fastjson as json, trace
from runtime.clock import now_rfc3339
from runtime.engine.build import dockerfile, metadata
from runtime.engine.build.dockerfile import DockerfileError, Instruction, substitute, words
from runtime.engine.build.file_steps import FileSteps
from runtime.engine.build.run_step import RunStep
from runtime.engine.build.stage import (BuildError, Image, Options, RunFailed, Stage, _copy_image, _load, _short,  # noqa: F401
                                        _substituted, cache_key, scratch)
from runtime.engine.changes import Lower
from runtime.errors import HullError, InvalidArgument, NotFound

# arguments every build has without an ARG (BuildKit's automatic platform args, docker's proxies)
PLATFORM_ARGS = {"BUILDPLATFORM": "linux/amd64", "BUILDOS": "linux", "BUILDARCH": "amd64",
                 "TARGETPLATFORM": "linux/amd64", "TARGETOS": "linux", "TARGETARCH": "amd64"}
PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")


class Builder(RunStep, FileSteps):
    """One build: the stages of a Dockerfile, the cache, and each step (RUN in run_step.py,
    COPY/ADD/WORKDIR in file_steps.py). Output goes to opts.out (stdout unless quiet)."""

    def __init__(self, root: str, context, text: str, filename: str, opts: Options):
        self.root, self.context, self.opts = root, context, opts
        self.instructions, self.escape = dockerfile.parse(text, filename)
        self.filename = filename
        self.out = open(os.devnull, "w") if opts.quiet else (opts.out or sys.stdout)
        self.run_out = (self.out.fileno(),) * 2 if opts.quiet else (1, 2)  # where RUN's output goes
        self.used_args = set()
        self.agent = None
        self.step = 0
        self.global_args = dict(PLATFORM_ARGS)
        self.stages = self._stages()

    def store(self):
        from runtime.engine.runner import image_store
        return image_store(self.root)

    # -- stages ---------------------------------------------------------------------------------------
    def _stages(self) -> list:
        stages = []
        for inst in self.instructions:
            if inst.name == "FROM":
                ws = words(inst.args, self.global_args, self.escape)
                if len(ws) == 3 and ws[1].lower() == "as":
                    name = ws[2].lower()
                elif len(ws) == 1:
                    name = None
                else:
                    raise DockerfileError(f"{self.filename}:{inst.line}: FROM requires IMAGE [AS NAME]")
                if name and any(s.name == name for s in stages):
                    raise DockerfileError(f"{self.filename}:{inst.line}: duplicate stage name {name!r}")
                platform = substitute(inst.flags.get("platform", ""), self.global_args, self.escape)
                if platform not in ("", "linux/amd64", "linux/x86_64"):
                    raise DockerfileError(f"{self.filename}:{inst.line}: hull builds linux/amd64 images only "
                                          f"(--platform={platform})")
                stages.append(Stage(len(stages), name, ws[0], inst))
            elif not stages:
                if inst.name != "ARG":
                    raise DockerfileError(f"{self.filename}:{inst.line}: {inst.name} before the first FROM: "
                                          "no build stage in current context")
                for key, value in self._arg_pairs(inst, self.global_args):
                    self.global_args[key] = self.opts.build_args.get(key, value)
                    self.used_args.add(key)
            else:
                stages[-1].instructions.append(inst)
        if not stages:
            raise DockerfileError(f"{self.filename}: no FROM instruction")
        return stages

    def _stage(self, ref: str, before: int):
        """The stage a name (or index) refers to, among those before index `before`."""
        if ref.isdigit():
            i = int(ref)
            if i >= before:
                raise DockerfileError(f"invalid stage index {ref}: only earlier stages can be used")
            return self.stages[i]
        return next((s for s in self.stages[:before] if s.name == ref.lower()), None)

    def _needed(self, target: Stage) -> list:
        """The target and the stages it uses (FROM a stage, COPY --from), in file order."""
        need, todo = set(), [target]
        while todo:
            s = todo.pop()
            if s.index in need:
                continue
            need.add(s.index)
            refs = [s.base] + [i.flags["from"] for i in s.instructions if i.name == "COPY" and "from" in i.flags]
            for ref in refs:
                dep = self._stage(substitute(ref, self.global_args, self.escape), s.index)
                if dep is not None:
                    todo.append(dep)
        return [s for s in self.stages if s.index in need]

    # -- the build ------------------------------------------------------------------------------------
    def build(self) -> str:
        """Build; the image's ID. Its steps' content is claimed until the image is named, so a prune
        meanwhile leaves it (and the build's tmp/ directories) alone."""
        with self.store().claim_tmp():
            return self._build()

    def _build(self) -> str:
        target = self.stages[-1]
        if self.opts.target:
            target = next((s for s in self.stages if s.name == self.opts.target.lower()), None)
            if target is None:
                raise InvalidArgument(f"target stage {self.opts.target} could not be found")
        if self.opts.labels:  # --label: one more LABEL step, as docker adds it
            pairs = " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in self.opts.labels.items())
            target.instructions.append(Instruction("LABEL", pairs, 0, f"LABEL {pairs}", {}))
        stages = self._needed(target)
        self.total = sum(1 + len(s.instructions) for s in stages)
        try:
            for stage in stages:
                stage.image = self._build_stage(stage)
        finally:
            if self.agent is not None:
                self.agent.close()
        unused = sorted(set(self.opts.build_args) - self.used_args - set(PROXY_ARGS))
        if unused:
            sys.stderr.write(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        image = target.image
        if image.desc is None:
            raise BuildError("No image was generated: the target stage is an empty FROM scratch")
        with self.store() as st:
            from runtime.image.reference import parse as parse_ref
            for tag in self.opts.tags:
                st.tag(parse_ref(tag), image.desc)
            if not self.opts.tags:
                st.keep_untagged(image.desc)  # docker's dangling image
        self.say(f"Successfully built {image.id.removeprefix('sha256:')[:12]}")
        for tag in self.opts.tags:
            self.say(f"Successfully tagged {tag if ':' in tag.rsplit('/', 1)[-1] else tag + ':latest'}")
        return image.id

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _header(self, inst: Instruction, trigger: bool = False) -> None:
        if trigger:
            self.say(f" ---> Running trigger: {inst.original}")
            return
        self.step += 1
        self.say(f"Step {self.step}/{self.total} : {inst.original}")
        trace.note(f"build step {self.step}/{self.total}: {inst.original}", kind="build")

    def _build_stage(self, stage: Stage) -> Image:
        self._header(stage.from_inst)
        image = self._base(stage)
        self.say(f" ---> {_short(image.id) if image.id else 'scratch'}")
        # the stage's variables: ARGs (declared in it) and ENV; ENV wins, as in docker
        stage.shell = list(image.cfg.get("Shell") or metadata.DEFAULT_SHELL)
        triggers = image.cfg.get("OnBuild") or []
        if triggers:
            image.config = {**image.config, "config": {**image.cfg, "OnBuild": None}}
            self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}")
            for text in triggers:
                inst = dockerfile.parse(text, f"{self.filename} (ONBUILD)")[0][0]
                image = self._do(stage, image, inst, trigger=True)
        for inst in stage.instructions:
            image = self._do(stage, image, inst)
        return image

    def _base(self, stage: Stage) -> Image:
        ref = substitute(stage.base, self.global_args, self.escape)
        if ref.lower() == "scratch":
            return scratch()
        earlier = self._stage(ref, stage.index)
        if earlier is not None:
            return _copy_image(earlier.image)
        with self.store() as st:
            have = None
            try:
                have = st.lookup(ref)
            except NotFound:
                pass
            if have is None or self.opts.pull:
                from runtime.image import transfer
                from runtime.image.config import Config
                from runtime.image.reference import parse as parse_ref
                transfer.pull(st, parse_ref(ref), "linux/amd64", Config(None),
                              transfer.Progress(self.out, quiet=self.opts.quiet))
                have = st.lookup(ref)
            return _load(st, have[1])

    def _variables(self, stage: Stage, image: Image) -> dict:
        env = dict(stage.args)
        for e in image.cfg.get("Env") or []:
            k, _, v = e.partition("=")
            env[k] = v
        return env

    def _arg_pairs(self, inst: Instruction, env: dict) -> list:
        pairs = []
        for w in words(inst.args, env, self.escape):
            key, eq, value = w.partition("=")
            if not key or not all(c.isalnum() or c == "_" for c in key):
                raise DockerfileError(f"{self.filename}:{inst.line}: ARG: invalid name {key!r}")
            pairs.append((key, value if eq else None))
        if not pairs:
            raise DockerfileError(f"{self.filename}:{inst.line}: ARG requires at least one argument")
        return pairs

    # -- steps ----------------------------------------------------------------------------------------
    def _do(self, stage: Stage, image: Image, inst: Instruction, trigger: bool = False) -> Image:
        self._header(inst, trigger)
        try:
            new = self._dispatch(stage, image, inst)
        except RunFailed:
            raise  # docker's own words
        except HullError as e:  # the others name the file and line
            msg = e.msg.removeprefix(f"line {inst.line}: ")
            if not msg.startswith(f"{self.filename}:"):
                e.msg = f"{self.filename}:{inst.line}: {msg}"
                e.args = (e.msg,)
            raise
        if new is not image:
            self.say(f" ---> {_short(new.id)}")
        return new

    def _dispatch(self, stage: Stage, image: Image, inst: Instruction) -> Image:
        name = inst.name
        variables = self._variables(stage, image)
        if name == "ARG":
            for key, value in self._arg_pairs(inst, variables):
                self.used_args.add(key)
                if key in self.opts.build_args:
                    value = self.opts.build_args[key]
                elif value is None:
                    value = self.global_args.get(key)
                if value is not None:
                    stage.args[key] = value
                else:
                    stage.args.pop(key, None)
            return self._meta(image, inst, lambda cfg: None, extra=sorted(stage.args.items()))
        if name == "RUN":
            return self._run(stage, image, inst, variables)
        if name in ("COPY", "ADD"):
            return self._copy(stage, image, inst, variables)
        if name == "WORKDIR":
            return self._workdir(image, inst, variables)
        if name == "SHELL":
            stage.shell = metadata.shell(inst)
            return self._meta(image, inst, lambda cfg: cfg.__setitem__("Shell", stage.shell))
        if name == "CMD":
            stage.cmd_set = True
            return self._meta(image, inst, lambda cfg: cfg.__setitem__("Cmd", metadata.command(inst, stage.shell)))
        if name == "ENTRYPOINT":
            def entrypoint(cfg):
                argv = metadata.command(inst, stage.shell)
                cfg["Entrypoint"] = argv or None
                if not stage.cmd_set:
                    cfg["Cmd"] = None  # docker: a new ENTRYPOINT drops the base image's CMD
            return self._meta(image, inst, entrypoint)
        if name == "MAINTAINER":
            sys.stderr.write("[WARNING] MAINTAINER instruction is deprecated in favor of using label "
                             f"(line {inst.line})\n")
            author = substitute(inst.args.strip(), variables, self.escape, keep_quotes=False)
            new = self._meta(image, inst, lambda cfg: None, author=author)
            return new
        simple = {"ENV": metadata.env, "LABEL": metadata.label, "EXPOSE": metadata.expose, "VOLUME": metadata.volume,
                  "USER": metadata.user, "STOPSIGNAL": metadata.stopsignal}
        if name in simple:
            return self._meta(image, inst, lambda cfg: simple[name](inst, cfg, dict(variables), self.escape),
                              extra=_substituted(inst, variables, self.escape))
        if name == "HEALTHCHECK":
            return self._meta(image, inst, lambda cfg: metadata.healthcheck(inst, cfg, stage.shell))
        if name == "ONBUILD":
            return self._meta(image, inst, lambda cfg: metadata.onbuild(inst, cfg))
        raise DockerfileError(f"line {inst.line}: {name} is not allowed here")

    def _key(self, image: Image, *parts) -> str:
        return cache_key(image.id, *parts)

    def _cached(self, key: str):
        if self.opts.no_cache:
            trace.note(f"build cache: not asked (--no-cache), key {key[:19]}", kind="build")
            return None
        with self.store() as st:
            desc = st.cache_get(key)
            found = None
            try:
                found = None if desc is None else _load(st, desc)
            except HullError:
                pass
        trace.note(f"build cache: {'hit' if found else 'miss'}, key {key[:19]}", kind="build")
        if found is not None:
            self.say(" ---> Using cache")
        return found

    def _meta(self, image: Image, inst: Instruction, change, extra=None, author=None) -> Image:
        """A step that only changes the config."""
        key = self._key(image, inst.original, extra)
        hit = self._cached(key)
        if hit is not None:
            return hit
        cfg = json.loads(json.dumps(image.cfg))
        change(cfg)
        return self._commit(image, cfg, f"/bin/sh -c #(nop)  {inst.original}", key, author=author)

    def _commit(self, image: Image, cfg: dict, created_by: str, key: str, layer_dir: str | None = None,
                author: str | None = None) -> Image:
        """The step's image: config (and layer, a directory in the store's tmp/) stored, cached."""
        from runtime.engine.changes import layer_tar
        from runtime.image.archive import store_image
        from runtime.image.store import MEDIA_LAYER, chain_ids
        now = now_rfc3339()
        entry = {"created": now, "created_by": created_by}
        config = {k: v for k, v in image.config.items() if k not in ("container_config", "container")}
        config.update(created=now, config=cfg, rootfs={"type": "layers", "diff_ids": list(image.config["rootfs"]
                                                                                        ["diff_ids"])})
        if author is not None:
            config["author"] = author
        layers = list(image.layers)
        with self.store() as st:
            if layer_dir is not None:
                fd, tar = tempfile.mkstemp(dir=os.path.join(st.root, "tmp"), prefix="build-")
                os.close(fd)
                try:
                    layer_tar(layer_dir, tar)
                    digest, size = st.put_file(tar, move=True)  # uncompressed: its digest is its diff ID
                finally:
                    if os.path.exists(tar):
                        os.unlink(tar)
                config["rootfs"]["diff_ids"].append(digest)
                layers.append({"mediaType": MEDIA_LAYER, "digest": digest, "size": size})
                work = tempfile.mkdtemp(dir=os.path.join(st.root, "tmp"), prefix="layer-")
                os.rename(layer_dir, os.path.join(work, "diff"))
                with open(os.path.join(work, "size"), "w") as f:
                    f.write(str(size))
                st.install(work, chain_ids(config["rootfs"]["diff_ids"])[-1])
            else:
                entry["empty_layer"] = True
            config["history"] = list(image.config.get("history") or []) + [entry]
            desc = store_image(st, config, [(layer["digest"], layer["size"], layer["mediaType"]) for layer in layers])
            st.cache_put(key, desc)
            return Image(desc, st.image_id(desc), config, layers)

    def _tmp(self, prefix: str) -> str:
        with self.store() as st:
            return tempfile.mkdtemp(dir=os.path.join(st.root, "tmp"), prefix=prefix)

    def _lower(self, image: Image) -> Lower:
        if image.desc is None or not image.layers:
            return Lower([])
        with self.store() as st:
            return Lower(list(reversed(st.layer_dirs(image.desc))))

