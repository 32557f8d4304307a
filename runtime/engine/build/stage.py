"""The build's objects: its options, a stage of the Dockerfile, the image a stage has built so far,
and the errors that end a build (docker build exits 1)."""
import hashlib

from runtime import fastjson as json
from runtime.engine.build import metadata
from runtime.engine.build.dockerfile import Instruction, substitute
from runtime.errors import HullError


class BuildError(HullError):
    """A step failed: docker build's exit code 1."""
    exit_code = 1


class RunFailed(BuildError):
    """A RUN's command failed: `The command '...' returned a non-zero code: N`."""


class Options:
    def __init__(self, tags=(), build_args=None, no_cache=False, pull=False, target=None, labels=None,
                 quiet=False, network="bridge", out=None):
        """out: where the steps are reported (a text writer; stdout if None)."""
        self.tags, self.build_args, self.no_cache, self.pull = list(tags), dict(build_args or {}), no_cache, pull
        self.target, self.labels, self.quiet, self.network = target, dict(labels or {}), quiet, network
        self.out = out


class Image:
    """What a stage has built so far: its descriptor in the store (None for scratch), its ID,
    its config (the image config JSON) and its manifest's layers."""

    def __init__(self, desc, image_id, config: dict, layers: list):
        self.desc, self.id, self.config, self.layers = desc, image_id, config, layers

    @property
    def cfg(self) -> dict:
        return self.config.setdefault("config", {})


def scratch() -> Image:
    return Image(None, None, {"architecture": "amd64", "os": "linux", "config": {},
                              "rootfs": {"type": "layers", "diff_ids": []}, "history": []}, [])


class Stage:
    def __init__(self, index: int, name: str | None, base: str, inst: Instruction):
        self.index, self.name, self.base, self.from_inst = index, name, base, inst
        self.instructions = []
        self.image = None  # the result, once built
        self.args, self.shell, self.cmd_set = {}, list(metadata.DEFAULT_SHELL), False




def _substituted(inst: Instruction, variables: dict, escape: str):
    return substitute(inst.args, variables, escape)


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _load(st, desc) -> Image:
    manifest = st.manifest(desc)
    config = st.config(manifest)
    return Image(desc, manifest["config"]["digest"], config, list(manifest["layers"]))


def _copy_image(image: Image) -> Image:
    return Image(image.desc, image.id, json.loads(json.dumps(image.config)), list(image.layers))


def cache_key(parent_id: str | None, *parts) -> str:
    """A step's cache key: its parent image (None: scratch) and what the step is made of (the
    instruction after substitution, the build args RUN sees, the digest of the files COPY reads)."""
    return "sha256:" + hashlib.sha256(json.dumps([parent_id or "scratch", *parts]).encode()).hexdigest()
