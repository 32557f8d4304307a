"""`hull build` against buildah (Debian's, private storage, runc, tests/peers/engines.py) on the
same Dockerfiles and contexts: the images' file trees (paths, types, modes, owners, contents, link
targets) and config fields match, and the built images run under hull. Then what only hull's side
can show: cache hits and misses, errors with line numbers, hostile contexts, nothing left behind.

buildah runs with --layers (one layer a step, a cache) and --format docker (HEALTHCHECK and ONBUILD
live only in docker's config format). Both build with --network none: no traffic leaves the test.
"""
import hashlib
import io
import os
import subprocess
import tarfile

import pytest

from helpers import tar_bytes, wait_for

pytestmark = pytest.mark.root

RUNTIME_FILES = ("etc/hostname", "etc/hosts", "etc/resolv.conf")
CONFIG_FIELDS = ("Cmd", "Entrypoint", "Env", "ExposedPorts", "WorkingDir", "User", "Labels", "Volumes",
                 "StopSignal", "Healthcheck", "OnBuild")


@pytest.fixture(scope="module")
def buildah(tmp_path_factory):
    from peers.engines import Buildah, busybox_image
    rootfs_tar, archive = busybox_image(str(tmp_path_factory.mktemp("buildah-images")))
    engine = Buildah("/usr/bin/runc", archive, rootfs_tar)
    yield engine
    assert engine.stop() == []


def write(ctx, files: dict) -> str:
    """files: {relative path: text | bytes | ("link", target) | ("mode", text, mode) | None (a dir)}"""
    for rel, content in files.items():
        path = os.path.join(ctx, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if content is None:
            os.makedirs(path, exist_ok=True)
        elif isinstance(content, tuple) and content[0] == "link":
            os.symlink(content[1], path)
        elif isinstance(content, tuple) and content[0] == "mode":
            with open(path, "w") as f:
                f.write(content[1])
            os.chmod(path, content[2])
        else:
            with open(path, "wb" if isinstance(content, bytes) else "w") as f:
                f.write(content)
    return str(ctx)


def _entry(kind: str, mode: int, uid: int, gid: int, data) -> tuple:
    return kind, oct(mode & 0o7777), uid, gid, data


def _skip(rel: str) -> bool:
    top = rel.split("/")[0]
    return rel in ("", ".") or top in ("dev", "proc", "sys") or rel in RUNTIME_FILES


def tree_of_dir(root: str) -> dict:
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(d, name)
            rel = os.path.relpath(path, root)
            if _skip(rel):
                continue
            st = os.lstat(path)
            if os.path.islink(path):
                out[rel] = _entry("link", 0, st.st_uid, st.st_gid, os.readlink(path))
            elif os.path.isdir(path):
                out[rel] = _entry("dir", st.st_mode, st.st_uid, st.st_gid, None)
            else:
                with open(path, "rb") as f:
                    out[rel] = _entry("file", st.st_mode, st.st_uid, st.st_gid, hashlib.sha256(f.read()).hexdigest())
    return out


def tree_of_tar(data: bytes) -> dict:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for m in t:
            rel = os.path.normpath(m.name).lstrip("/")
            if _skip(rel):
                continue
            if m.issym():
                out[rel] = _entry("link", 0, m.uid, m.gid, m.linkname)
            elif m.isdir():
                out[rel] = _entry("dir", m.mode, m.uid, m.gid, None)
            elif m.isreg():
                out[rel] = _entry("file", m.mode, m.uid, m.gid, hashlib.sha256(t.extractfile(m).read()).hexdigest())
    return out


def hull_tree(engine, image: str) -> dict:
    cid = engine("create", "--network", "none", image, "true").stdout.strip()
    try:
        data = subprocess.run(engine.cmd("export", cid), capture_output=True, check=True).stdout
    finally:
        engine("rm", cid)
    return tree_of_tar(data)


def buildah_tree(buildah, image: str) -> dict:
    c = buildah("from", "--pull=never", image, check=True).stdout.strip()
    try:
        mount = buildah("mount", c, check=True).stdout.strip()
        return tree_of_dir(mount)
    finally:
        buildah("umount", c)
        buildah("rm", c)


def hull_config(engine, image: str) -> dict:
    import json
    cfg = json.loads(engine("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    return {k: cfg.get(k) or None for k in CONFIG_FIELDS}


def buildah_config(buildah, image: str) -> dict:
    import json
    cfg = json.loads(buildah("inspect", "-t", "image", image, check=True).stdout)["Docker"]["config"]
    labels = {k: v for k, v in (cfg.get("Labels") or {}).items() if k != "io.buildah.version"}
    ports = {}
    for spec in cfg.get("ExposedPorts") or {}:  # buildah keeps EXPOSE 1-3 as a range; docker lists each port
        port, _, proto = spec.partition("/")
        low, _, high = port.partition("-")
        ports.update({f"{p}/{proto}": {} for p in range(int(low), int(high or low) + 1)})
    return {**{k: cfg.get(k) or None for k in CONFIG_FIELDS}, "Labels": labels or None, "ExposedPorts": ports or None}


def build_both(engine, buildah, ctx: str, *flags, dockerfile: str | None = None):
    """The same build under hull and buildah, both tagged `t`; their (CompletedProcess, ...)."""
    file_flag = ["-f", dockerfile] if dockerfile else []
    ours = engine("build", "--network", "none", *file_flag, *flags, "-t", "t", ctx, check=False)
    theirs = buildah("bud", "--layers", "--format", "docker", "--pull=never", "--network", "none",
                     *file_flag, *flags, "-t", "t", ctx, timeout=300)
    return ours, theirs


def same_image(engine, buildah, ctx, *flags, dockerfile=None) -> dict:
    ours, theirs = build_both(engine, buildah, ctx, *flags, dockerfile=dockerfile)
    assert ours.returncode == 0, ours.stderr + ours.stdout
    assert theirs.returncode == 0, theirs.stderr + theirs.stdout
    mine, their_tree = hull_tree(engine, "t"), buildah_tree(buildah, "t")
    if "run" not in mine and not any(p.startswith("run/") for p in their_tree):
        their_tree.pop("run", None)  # buildah's RUN leaves its empty mount point /run; docker's does not
    diff = {k: (mine.get(k), their_tree.get(k)) for k in set(mine) | set(their_tree)
            if mine.get(k) != their_tree.get(k)}
    assert diff == {}, diff
    assert hull_config(engine, "t") == buildah_config(buildah, "t")
    return mine


# -- the same Dockerfiles as buildah ---------------------------------------------------------------------

def test_users_dockerfile(engine, buildah, tmp_path):
    """The user's document's Dockerfile (000), on busybox: MAINTAINER, ADD of a tar, of a file into
    a file, of a file into a directory, RUN, EXPOSE, CMD. Built, run, rebuilt from cache."""
    app = tar_bytes([("app-3.3.1/", None), ("app-3.3.1/bin/", None), ("app-3.3.1/bin/app", b"#!/bin/sh\necho app\n")])
    ctx = write(tmp_path / "ctx", {
        "build/distributions/app-3.3.1.tar": app,
        "config.template.json": '{"port": 8080}\n',
        "docker/script/start.sh": ("mode", "#!/bin/sh\necho started; cat /app-3.3.1/bin/config.json\n", 0o755),
        "Dockerfile": "# vertx/vertx3 debian version\nFROM busybox\nMAINTAINER chungsub.kim@purpleworks.co.kr\n\n"
                      "ADD build/distributions/app-3.3.1.tar /\n"
                      "ADD config.template.json /app-3.3.1/bin/config.json\n"
                      "ADD docker/script/start.sh /usr/local/bin/\n"
                      "RUN ln -s /usr/local/bin/start.sh /start.sh\n\nEXPOSE 8080\nEXPOSE 7000\n\n"
                      'CMD ["start.sh"]\n'})
    tree = same_image(engine, buildah, ctx)
    assert tree["start.sh"] == ("link", "0o0", 0, 0, "/usr/local/bin/start.sh")
    assert engine("run", "--rm", "--network", "none", "t").stdout == 'started\n{"port": 8080}\n'
    assert engine("image", "inspect", "--format", "{{.Author}}", "t").stdout.strip() == "chungsub.kim@purpleworks.co.kr"
    again = engine("build", "--network", "none", "-t", "t2", "-f", os.path.join(ctx, "Dockerfile"), ctx).stdout
    assert again.count("---> Using cache") == 8, again  # every step after FROM
    assert engine("images", "-q", "t").stdout == engine("images", "-q", "t2").stdout


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory):
    """dockerd (runc, private data root and socket, in a netns of its own) for its classic builder."""
    from peers.engines import Dockerd, busybox_image
    rootfs_tar, archive = busybox_image(str(tmp_path_factory.mktemp("docker-images")))
    engine = Dockerd("/usr/bin/runc", archive, rootfs_tar)
    engine.env["DOCKER_BUILDKIT"] = "0"
    # its cgroup parent made now, before a test's hull fixture takes stock of the cgroups
    engine("run", "--rm", "--network", "none", "busybox", "true", check=True)
    yield engine
    assert engine.stop() == []


def test_users_dockerfile_like_docker(dockerd, engine, tmp_path):
    """The same document's Dockerfile under docker build (the classic builder hull's output follows)."""
    import json
    ctx = write(tmp_path / "ctx", {
        "build/distributions/app-3.3.1.tar": tar_bytes([("app-3.3.1/bin/app", b"app\n")]),
        "config.template.json": "{}\n", "docker/script/start.sh": ("mode", "#!/bin/sh\necho started\n", 0o755),
        "Dockerfile": "FROM busybox\nMAINTAINER someone\nADD build/distributions/app-3.3.1.tar /\n"
                      "ADD config.template.json /app-3.3.1/bin/config.json\nADD docker/script/start.sh /usr/local/bin/\n"
                      "RUN ln -s /usr/local/bin/start.sh /start.sh\nEXPOSE 8080\nEXPOSE 7000\nCMD [\"start.sh\"]\n"})
    ours = engine("build", "--network", "none", "-t", "t", ctx)
    theirs = dockerd("build", "--network", "none", "-t", "t", ctx, timeout=300)
    assert theirs.returncode == 0, theirs.stderr
    steps = [line for line in ours.stdout.splitlines() if line.startswith("Step ")]
    assert steps == [line for line in theirs.stdout.splitlines() if line.startswith("Step ")]
    cid = dockerd("create", "t", "true", check=True).stdout.strip()
    p = subprocess.run(dockerd.cmd("export", cid), capture_output=True, env=dockerd.env)
    assert p.returncode == 0, p.stderr
    data = p.stdout
    dockerd("rm", cid)
    mine, their_tree = hull_tree(engine, "t"), tree_of_tar(data)
    for path in (".dockerenv", "etc/mtab"):  # docker's init layer, in what it exports
        their_tree.pop(path, None)
    assert {k: (mine.get(k), their_tree.get(k)) for k in set(mine) | set(their_tree)
            if mine.get(k) != their_tree.get(k)} == {}
    cfg = json.loads(dockerd("image", "inspect", "--format", "{{json .Config}}", "t", check=True).stdout)
    assert hull_config(engine, "t") == {k: cfg.get(k) or None for k in CONFIG_FIELDS}
    assert engine("image", "inspect", "--format", "{{.Author}}", "t").stdout == \
        dockerd("image", "inspect", "--format", "{{.Author}}", "t").stdout


def test_copy_rules(engine, buildah, tmp_path):
    """COPY's destination rules, --chown, --chmod, wildcards, symlinks, and WORKDIR/USER."""
    ctx = write(tmp_path / "ctx", {
        "a.txt": ("mode", "hello\n", 0o640), "b.md": "b\n", "sub/deep/f": "x\n", "sub/ln": ("link", "../a.txt"),
        "link": ("link", "a.txt"),
        "Dockerfile": "FROM busybox\nUSER 9:9\nWORKDIR /wd/x\nCOPY --chown=5:6 a.txt /new/parent/\n"
                      "COPY sub /subcopy\nCOPY --chmod=600 sub /chm/\nCOPY *.txt *.md /globbed/\n"
                      "COPY link /followed\nCOPY a.txt .\nCOPY a.txt rel/\nCOPY --chown=user sub/deep /bydir\n"
                      "COPY --chown=nobody:users a.txt /byname\n"
                      "USER root\nCOPY a.txt /etc\n"})
    os.chmod(os.path.join(ctx, "sub"), 0o700)
    tree = same_image(engine, buildah, ctx)
    assert tree["followed"][0] == "file" and tree["etc/a.txt"][0] == "file"
    assert tree["new/parent"][2:4] == (5, 6) and tree["wd/x"][2:4] == (9, 9)


def test_multi_stage(engine, buildah, tmp_path):
    """COPY --from a named stage and by index keeps the stage's owners; only the target's layers."""
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox AS one\nRUN mkdir -p /own && echo o > /own/f && chown -R 3:4 /own "
                      "&& ln -s f /own/l\n"
                      "FROM busybox\nRUN echo two > /two\n"
                      "FROM busybox\nCOPY --from=one /own /fromown\nCOPY --from=1 /two /two\n"
                      "COPY --from=one /own/f /own/l /files/\n"})
    tree = same_image(engine, buildah, ctx)
    assert tree["fromown/f"][2:4] == (3, 4)
    assert "own" not in tree


def test_arg_env_substitution(engine, buildah, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "ARG BASE=busybox\nARG TAG\nFROM ${BASE}\nARG V=1\nARG W\nENV E=${V}x F=\"${W:-none} q\" "
                      "G=${V:+set}\nENV OLD form with spaces\nLABEL l1=$E \"l 2\"=\"$F\"\nWORKDIR /$E\n"
                      "RUN echo \"$V $W $E $F\" > out\nUSER ${V}\nSTOPSIGNAL SIG${W:-TERM}\nVOLUME /v1 /v3\n"
                      'VOLUME ["/v2", "/$E"]\nEXPOSE 80 8000-8002/udp\n'
                      "HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost || exit 1\n"
                      'ENTRYPOINT ["echo"]\n'})
    same_image(engine, buildah, ctx, "--build-arg", "W=USR1", "--build-arg", "V=2")
    out = engine("run", "--rm", "--network", "none", "--entrypoint", "cat", "t", "/2x/out").stdout
    assert out == "2 USR1 2x USR1 q\n"


def test_dockerignore(engine, buildah, tmp_path):
    ctx = write(tmp_path / "ctx", {
        ".dockerignore": "# comment\n*.log\nbuild/**\n!build/keep\nsecret*\nDockerfile\n",
        "a.log": "x", "src/a.log": "kept: only the top level matches\n", "build/out/x": "x", "build/keep": "k",
        "secret.key": "no", "main.c": "int main;\n",
        "Dockerfile": "FROM busybox\nCOPY . /ctx/\n"})
    tree = same_image(engine, buildah, ctx)
    assert sorted(p for p in tree if p.startswith("ctx/")) == \
        ["ctx/.dockerignore", "ctx/build", "ctx/build/keep", "ctx/main.c", "ctx/src", "ctx/src/a.log"]


def test_onbuild(engine, buildah, tmp_path):
    base = write(tmp_path / "base", {"Dockerfile": "FROM busybox\nONBUILD COPY hello /hello\n"
                                                   "ONBUILD RUN echo triggered > /triggered\n"})
    ours, theirs = build_both(engine, buildah, base)
    assert ours.returncode == theirs.returncode == 0, ours.stderr + theirs.stderr
    assert engine("image", "inspect", "--format", "{{json .Config.OnBuild}}", "t").stdout.strip() == \
        '["COPY hello /hello","RUN echo triggered > /triggered"]'
    child = write(tmp_path / "child", {"hello": "hi\n", "Dockerfile": "FROM t\nCMD cat /hello /triggered\n"})
    ours, theirs = build_both(engine, buildah, child)
    tree = same_image(engine, buildah, child)
    assert "Executing 2 build triggers" in ours.stdout
    assert tree["hello"][0] == "file"
    assert engine("run", "--rm", "--network", "none", "t").stdout == "hi\ntriggered\n"


def test_failing_run(engine, buildah, tmp_path):
    """Like docker: the command, its code, exit 1; the steps before stay cached, nothing else stays."""
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nENV A=1\nRUN echo before; exit 3\nCMD x\n"})
    ours, theirs = build_both(engine, buildah, ctx)
    assert ours.returncode == 1 and theirs.returncode != 0
    assert "The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3" in ours.stderr
    assert "before\n" in ours.stdout
    assert engine("ps", "-aq").stdout == ""
    assert engine("images", "-q", "t").stdout == ""
    assert os.listdir(engine.store / "tmp") == []
    again = engine("build", "--network", "none", ctx, check=False)
    assert again.returncode == 1 and again.stdout.count("Using cache") == 1


# -- hull's own side -----------------------------------------------------------------------------------

def test_cache_hits_and_misses(engine, tmp_path):
    files = {f"files/{i}": f"{i}\n" for i in range(20)}
    ctx = write(tmp_path / "ctx", {**files, "one": "1\n", "Dockerfile":
                                   "FROM busybox\nCOPY one /one\nRUN cat /one > /copied\nCOPY files /files/\n"
                                   "ENV X=1\nCMD [\"cat\", \"/copied\"]\n"})
    first = engine("build", "--network", "none", "-t", "c", ctx).stdout
    assert "Using cache" not in first
    second = engine("build", "--network", "none", "-t", "c", ctx).stdout
    assert second.count("---> Using cache") == 5
    with open(os.path.join(ctx, "files", "7"), "w") as f:  # one copied file changed: its step on
        f.write("seven\n")
    third = engine("build", "--network", "none", "-t", "c", ctx).stdout
    steps = third.split("Step ")[1:]
    assert ["Using cache" in s for s in steps] == [False, True, True, False, False, False], third
    os.utime(os.path.join(ctx, "one"), (0, 0))  # a new mtime alone changes nothing (docker's rule)
    assert engine("build", "--network", "none", "-t", "c", ctx).stdout.count("Using cache") == 5
    assert "Using cache" not in engine("build", "--network", "none", "--no-cache", "-t", "c", ctx).stdout
    assert engine("run", "--rm", "--network", "none", "c").stdout == "1\n"
    assert "Build Cache" in engine("system", "df").stdout
    pruned = engine("builder", "prune", "-f").stdout
    assert "Total reclaimed space" in pruned
    assert "Using cache" not in engine("build", "--network", "none", "-t", "c", ctx).stdout
    assert engine("run", "--rm", "--network", "none", "c").stdout == "1\n"  # the named image survived


@pytest.mark.v2  # RUN steps in containers under a pure cgroup v2 hierarchy too (scripts/vm-test)
def test_build_arg_invalidates_run(engine, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nARG V=1\nRUN echo $V > /v\n"})
    engine("build", "--network", "none", "-t", "a", ctx)
    out = engine("build", "--network", "none", "--build-arg", "V=2", "--build-arg", "UNUSED=1", "-t", "a", ctx)
    assert "Using cache" not in out.stdout.split("RUN")[1]
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in out.stderr
    assert engine("run", "--rm", "--network", "none", "a", "cat", "/v").stdout == "2\n"


def test_target_skips_unused_stages(engine, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox AS broken\nRUN exit 1\n"
                                                 "FROM busybox AS base\nRUN echo base > /base\n"
                                                 "FROM base AS final\nRUN cat /base\nFROM busybox\nRUN exit 2\n"})
    out = engine("build", "--network", "none", "--target", "final", "-t", "f", "--label", "k=v w", "-q", ctx)
    assert out.stdout.startswith("sha256:") and len(out.stdout.strip()) == 71
    assert engine("image", "inspect", "--format", "{{.Config.Labels}}", "f").stdout.strip() == "map[k:v w]"
    bad = engine("build", "--network", "none", "--target", "nope", ctx, check=False)
    assert bad.returncode == 1 and "target stage nope could not be found" in bad.stderr


@pytest.mark.parametrize("dockerfile, message", [
    ("FROM busybox\nRUN true\n\nRUNN x\n", "Dockerfile:4: unknown instruction: RUNN"),
    ("FROM busybox\nCOPY missing /x\n", "Dockerfile:2: COPY failed: file not found in build context"),
    ("FROM busybox\nCOPY ../x /x\n", "Dockerfile:2: forbidden path outside the build context: ../x"),
    ("FROM busybox\nCOPY a b /dir\n", "Dockerfile:2: When using COPY with more than one source file"),
    ("ENV A=1\nFROM busybox\n", "Dockerfile:1: ENV before the first FROM"),
    ("FROM busybox\nEXPOSE 80/xyz\n", "Dockerfile:2: invalid proto in EXPOSE 80/xyz"),
    ("FROM busybox\nSTOPSIGNAL SIGNOPE\n", "Dockerfile:2:"),
    ("FROM 127.0.0.1:1/nosuchimage\n", "127.0.0.1:1"),  # a registry that is not there (loopback)
    ("FROM busybox\nADD http://127.0.0.1:1/x /x\n", "Dockerfile:2: ADD http://127.0.0.1:1/x: cannot fetch it"),
    ("FROM busybox\nCOPY --from=nostage /x /x\n", "Dockerfile:2: COPY --from=nostage"),
    ("FROM busybox\nHEALTHCHECK --interval=5 CMD true\n", "Dockerfile:2: invalid duration"),
    ("FROM scratch\nRUN true\n", "Dockerfile:2: RUN on an empty image"),
])
def test_errors_name_the_line(engine, tmp_path, dockerfile, message):
    ctx = write(tmp_path / "ctx", {"a": "a", "b": "b", "Dockerfile": dockerfile})
    r = engine("build", "--network", "none", ctx, check=False)
    assert r.returncode == 1, r
    assert message in r.stderr, r.stderr
    assert engine("ps", "-aq").stdout == ""


def test_hostile_contexts(engine, tmp_path):
    """A link to the host's /etc stays a link (or is resolved inside the context); a tar with ../
    entries is refused; an ignored directory is neither read nor copied."""
    ctx = write(tmp_path / "ctx", {"hostetc": ("link", "/etc"), "passwd": ("link", "/etc/passwd"),
                                   "big/mem": "placeholder", ".dockerignore": "big\n",
                                   "Dockerfile": "FROM busybox\nCOPY . /ctx/\n"})
    for i in range(2000):
        with open(os.path.join(ctx, "big", f"f{i}"), "w") as f:
            f.write("x")
    # reading this file fails with EIO: had the builder opened it, the build would fail
    subprocess.run(["mount", "--bind", "/proc/self/mem", os.path.join(ctx, "big", "mem")], check=True)
    try:
        tree = hull_tree_after(engine, ctx)
    finally:
        subprocess.run(["umount", os.path.join(ctx, "big", "mem")], check=True)
    assert tree["ctx/hostetc"] == ("link", "0o0", 0, 0, "/etc")
    assert not any(p.startswith("ctx/big") for p in tree)
    # a link to a host file is followed inside the context: there it does not exist
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nCOPY passwd /stolen\nCOPY hostetc/shadow /stolen2\n")
    r = engine("build", "--network", "none", ctx, check=False)
    assert r.returncode == 1 and "file not found in build context" in r.stderr
    # ADD of an archive whose names climb out
    outside = tmp_path / "escaped"
    evil = tar_bytes([("../../../../../../.." + str(outside), b"pwned"), ("ok", b"fine")])
    ctx2 = write(tmp_path / "ctx2", {"evil.tar": evil, "Dockerfile": "FROM busybox\nADD evil.tar /x/\n"})
    r = engine("build", "--network", "none", ctx2, check=False)
    assert r.returncode == 1 and "Dockerfile:2:" in r.stderr
    assert not outside.exists()
    assert os.listdir(engine.store / "tmp") == []


def hull_tree_after(engine, ctx) -> dict:
    engine("build", "--network", "none", "-t", "h", ctx)
    return hull_tree(engine, "h")


def test_context_on_stdin_and_dockerfile_on_stdin(engine, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY f /f\n"), ("f", b"from the tar\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    p = subprocess.run(engine.cmd("build", "--network", "none", "-t", "s", "--iidfile", tmp_path / "iid", "-"),
                       input=buf.getvalue(), capture_output=True)
    assert p.returncode == 0, p.stderr
    assert engine("run", "--rm", "--network", "none", "s", "cat", "/f").stdout == "from the tar\n"
    assert (tmp_path / "iid").read_text() == engine("image", "inspect", "--format", "{{.Id}}", "s").stdout.strip()
    r = engine("build", "--network", "none", "-t", "d", "-", input="FROM busybox\nENV FROM_STDIN=1\n")
    assert r.returncode == 0
    assert "FROM_STDIN=1" in engine("image", "inspect", "--format", "{{.Config.Env}}", "d").stdout


def test_add_url_and_network(engine, tmp_path):
    """ADD of a URL (a server on the loopback of the test's netns): mode 0600, as docker's; then a
    RUN on the default network, the bridge (its eth0)."""
    served = tmp_path / "srv"
    served.mkdir()
    (served / "file.txt").write_text("served\n")
    server = subprocess.Popen(engine.netns.enter + ["python3", "-m", "http.server", "--bind", "127.0.0.1",
                                                    "--directory", str(served), "18765"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _port_open(engine, 18765), "the http server")
        ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nADD http://127.0.0.1:18765/file.txt /dl/\n"
                                                     "RUN ls -l /dl/file.txt && ip -o -4 addr show eth0\n"})
        out = engine("build", "-t", "u", ctx)
        assert "-rw-------" in out.stdout and "eth0" in out.stdout
        assert engine("run", "--rm", "--network", "none", "u", "cat", "/dl/file.txt").stdout == "served\n"
    finally:
        server.terminate()
        server.wait()


def _port_open(engine, port: int) -> bool:
    code = f"import socket; socket.create_connection(('127.0.0.1', {port}), 1)"
    return engine.netns.run("python3", "-c", code, capture_output=True).returncode == 0
