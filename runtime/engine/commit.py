"""`hull commit`: a container's writable layer as a new image on top of its own.

The new image's config is the container's (Cmd, Entrypoint, Env, WorkingDir, User, Labels, ...,
as docker takes them), with --change lines applied on top; its history gains one entry. The
container is paused meanwhile (docker's default), so the layer is one moment's.
"""
import os
import tempfile

from runtime.clock import now_rfc3339
from runtime.errors import InvalidArgument

# Dockerfile instructions --change accepts, and the config key each sets
_CHANGES = {"CMD": "Cmd", "ENTRYPOINT": "Entrypoint", "ENV": "Env", "LABEL": "Labels", "USER": "User",
            "WORKDIR": "WorkingDir", "EXPOSE": "ExposedPorts", "VOLUME": "Volumes", "STOPSIGNAL": "StopSignal"}


def apply_change(config: dict, line: str) -> None:
    """One Dockerfile line (CMD ["sh"], CMD sh -c x, ENV A=1 B=2, LABEL k=v, EXPOSE 80/tcp ...)."""
    from runtime import fastjson as json
    word, _, rest = line.strip().partition(" ")
    key = _CHANGES.get(word.upper())
    if key is None:
        raise InvalidArgument(f"{word} is not a valid change command (one of {', '.join(_CHANGES)})")
    rest = rest.strip()
    if key in ("Cmd", "Entrypoint", "Volumes"):
        try:
            value = json.loads(rest)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError
        except ValueError:
            value = ["/bin/sh", "-c", rest] if key != "Volumes" else rest.split()
        config[key] = {v: {} for v in value} if key == "Volumes" else value
    elif key in ("Env", "Labels"):
        pairs = [p.split("=", 1) if "=" in p else None for p in _words(rest)]
        if key == "Env" and len(pairs) == 1 and pairs[0] is None and " " in rest:  # ENV KEY value
            k, _, v = rest.partition(" ")
            pairs = [[k, v.strip()]]
        if any(p is None for p in pairs):
            raise InvalidArgument(f"{word} needs KEY=VALUE pairs: {rest!r}")
        if key == "Env":
            env = {e.split("=", 1)[0]: e for e in config.get("Env") or []}
            env.update({k: f"{k}={v}" for k, v in pairs})
            config["Env"] = list(env.values())
        else:
            config["Labels"] = {**(config.get("Labels") or {}), **dict(pairs)}
    elif key == "ExposedPorts":
        config["ExposedPorts"] = {**(config.get("ExposedPorts") or {}),
                                  **{(p if "/" in p else p + "/tcp"): {} for p in rest.split()}}
    else:
        config[key] = rest


def _words(text: str) -> list:
    import shlex
    return shlex.split(text)


def commit(c, ref_text: str | None, message: str, author: str, changes: list, pause: bool) -> str:
    """Returns the new image's ID."""
    from runtime.engine import changes as changes_mod, runner
    from runtime.image import archive
    from runtime.image.reference import parse as parse_ref
    from runtime.image.store import MEDIA_LAYER
    ref = parse_ref(ref_text) if ref_text else None
    cfg = c.config["Config"]
    new_cfg = {k: cfg[k] for k in ("User", "Env", "Cmd", "Entrypoint", "WorkingDir", "Labels", "Volumes",
                                   "StopSignal", "ExposedPorts", "OnBuild") if cfg.get(k)}
    for line in changes:
        apply_change(new_cfg, line)
    paused = False
    with runner.image_store(c.root) as st:
        _, desc = st.lookup(c.config["ImageID"])
        manifest = st.manifest(desc)
        base = st.config(manifest)
        fd, tar = tempfile.mkstemp(dir=os.path.join(st.root, "tmp"), prefix="commit-")
        os.close(fd)
        try:
            if pause and c.init_alive() and not c.state.get("Paused"):
                runner.pause(c)
                paused = True
            try:
                changes_mod.layer_tar(c.path("upper"), tar)
            finally:
                if paused:
                    runner.unpause(c)
            digest, size = st.put_file(tar, move=True)  # an uncompressed layer: its digest is its diff ID
        finally:
            if os.path.exists(tar):
                os.unlink(tar)
        created = now_rfc3339()
        command = " ".join((cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or []))
        config = {"architecture": base.get("architecture", "amd64"), "os": base.get("os", "linux"),
                  "created": created, "config": new_cfg,
                  "rootfs": {"type": "layers", "diff_ids": list(base["rootfs"]["diff_ids"]) + [digest]},
                  "history": list(base.get("history") or []) + [
                      {"created": created, "created_by": command,
                       **({"comment": message} if message else {}), **({"author": author} if author else {})}]}
        if author:
            config["author"] = author
        if message:
            config["comment"] = message
        layers = [(layer["digest"], layer["size"], layer["mediaType"]) for layer in manifest["layers"]]
        new = archive.commit_image(st, ref, config, layers + [(digest, size, MEDIA_LAYER)])
        return st.image_id(new)
