"""A build's RUN step: the command in a container of the engine on the image so far, with the
build's network; its writable layer becomes the step's layer as it is."""
import os
import shutil
import sys

from runtime import fastjson as json
from runtime.engine.build import metadata
from runtime.engine.build.dockerfile import DockerfileError, Instruction
from runtime.engine.build.stage import BuildError, Image, RunFailed, Stage
from runtime.errors import HullError


class RunStep:
    """Builder's RUN (a mixin: it uses the Builder's cache, commit and output)."""

    def _run(self, stage: Stage, image: Image, inst: Instruction, variables: dict) -> Image:
        argv = metadata.command(inst, stage.shell)
        if inst.flags.get("mount") or inst.flags.get("security"):
            raise DockerfileError(f"line {inst.line}: RUN --mount and --security are not supported")
        env_names = {e.split("=", 1)[0] for e in image.cfg.get("Env") or []}
        args = [f"{k}={v}" for k, v in stage.args.items() if k not in env_names]
        created_by = (f"|{len(args)} {' '.join(args)} " if args else "") + " ".join(argv)
        network = inst.flags.get("network") or self.opts.network
        key = self._key(image, "RUN", created_by, network == "none")
        hit = self._cached(key)
        if hit is not None:
            return hit
        if not image.layers:
            raise BuildError(f"{self.filename}:{inst.line}: RUN on an empty image (FROM scratch): there is "
                             "nothing to run")
        layer_dir = self._run_container(image, argv, args, network)
        try:
            return self._commit(image, json.loads(json.dumps(image.cfg)), created_by, key, layer_dir)
        finally:
            shutil.rmtree(layer_dir, ignore_errors=True)

    def _run_container(self, image: Image, argv: list, args: list, network: str) -> str:
        """Run argv in a container on image; its writable layer, moved to the store's tmp/."""
        from runtime.engine import attach, bundle, runner
        from runtime.engine.containers import Containers
        cfg = image.cfg
        config = {"Image": image.id, "ImageID": image.id,
                  "Config": {"Hostname": "", "Domainname": "", "User": cfg.get("User") or "",
                             "Env": bundle.merge_env(cfg.get("Env") or [], args), "Cmd": argv, "Entrypoint": None,
                             "WorkingDir": cfg.get("WorkingDir") or "", "Image": image.id, "Labels": {},
                             "Tty": False, "OpenStdin": False},
                  "HostConfig": {"NetworkMode": network, "LogConfig": {"Type": "json-file", "Config": {}},
                                 "ShmSize": 64 * 1024 * 1024, "RestartPolicy": {"Name": "no"}}}
        containers = Containers(self.root)
        c = containers.create(config, None, claim=True)  # until removed: no prune takes its layer
        try:
            c.config["Config"]["Hostname"] = c.id[:12]
            c.config["Mounts"] = []
            c.save_config()
            self.say(f" ---> Running in {c.id[:12]}")
            if network not in ("none", "host") and self.agent is None:
                from runtime.engine import monitor
                self.agent = monitor.NetlinkClient(self.root)
            sys.stdout.flush()
            try:
                code = attach.run_in_foreground(c, False, False, self.agent, self.run_out)
            except HullError as e:
                raise BuildError(f"The command '{' '.join(argv)}' could not run: {e.msg}") from None
            if code != 0:
                raise RunFailed(f"The command '{' '.join(argv)}' returned a non-zero code: {code}")
            layer_dir = self._tmp("run-")
            os.rmdir(layer_dir)
            os.rename(c.path("upper"), layer_dir)
            return layer_dir
        finally:
            runner.remove(containers, c.id, force=True)
            self.say(f"Removing intermediate container {c.id[:12]}")
