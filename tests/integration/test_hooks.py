"""OCI hooks: each kind runs at its moment, with the state JSON on stdin, in the right namespaces."""
import json
import os
import time

import pytest

pytestmark = pytest.mark.root


def recorder(out_dir, kind, extra=""):
    """A hook that saves its stdin (the state) and its mount namespace."""
    script = f"cat > {out_dir}/{kind}.json; readlink /proc/self/ns/mnt > {out_dir}/{kind}.ns; {extra}"
    return {"path": "/bin/sh", "args": ["sh", "-c", script], "env": ["HOOKVAR=1"]}


def test_hooks_run_at_their_moments_with_state(oci, bundle, tmp_path):
    out = tmp_path / "hooks"
    out.mkdir()
    kinds = ("prestart", "createRuntime", "createContainer", "poststart", "poststop")
    bundle.config["hooks"] = {k: [recorder(out, k)] for k in kinds}
    # startContainer runs inside the container: its path resolves there and it writes to a bind mount
    bundle.config["mounts"].append({"destination": "/hooks", "type": "bind", "source": str(out),
                                    "options": ["rbind"]})
    bundle.config["hooks"]["startContainer"] = [
        {"path": "/bin/sh", "args": ["sh", "-c", "cat > /hooks/startContainer.json; hostname > /hooks/start.host"]}]
    bundle.config["hostname"] = "hooked"
    bundle.config["annotations"] = {"org.example/key": "value"}
    oci("create", "-b", bundle.args("sleep", "100").save(), "h1", check=True)
    created = {p.stem for p in out.glob("*.json")}
    assert created == {"prestart", "createRuntime", "createContainer"}
    pid = oci.state("h1")["pid"]
    for kind in ("prestart", "createRuntime", "createContainer"):
        st = json.loads((out / f"{kind}.json").read_text())
        assert st["id"] == "h1" and st["pid"] == pid and st["status"] == "created"  # crun's (runc: creating)
        assert st["bundle"] == bundle.path and st["annotations"] == {"org.example/key": "value"}
    host_mnt = os.readlink("/proc/self/ns/mnt")
    container_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    assert (out / "createRuntime.ns").read_text().strip() == host_mnt
    assert (out / "prestart.ns").read_text().strip() == host_mnt
    assert (out / "createContainer.ns").read_text().strip() == container_mnt

    oci("start", "h1", check=True)
    assert (out / "start.host").read_text() == "hooked\n"
    assert json.loads((out / "startContainer.json").read_text())["pid"] == pid
    assert json.loads((out / "poststart.json").read_text())["status"] == "running"
    assert not (out / "poststop.json").exists()
    oci("delete", "--force", "h1", check=True)
    st = json.loads((out / "poststop.json").read_text())
    assert st["id"] == "h1" and st["status"] == "stopped"


def test_failing_create_runtime_hook_undoes_create(oci, bundle):
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}]}
    p = oci("create", "-b", bundle.args("sleep", "100").save(), "hf1")
    assert p.returncode == 1
    assert "createRuntime hook /bin/sh exited with status 3: nope" in p.stderr
    assert os.listdir(oci.root) == []


def test_hook_timeout(oci, bundle):
    bundle.config["hooks"] = {"prestart": [{"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}]}
    started = time.time()
    p = oci("create", "-b", bundle.args("true").save(), "ht1")
    assert p.returncode == 1 and "timed out after 1s" in p.stderr
    assert time.time() - started < 8
    assert os.listdir(oci.root) == []


def test_failing_start_container_hook_fails_start(oci, bundle):
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/false"}]}
    oci("create", "-b", bundle.args("sleep", "100").save(), "hs1", check=True)
    p = oci("start", "hs1")
    assert p.returncode == 1 and "startContainer hook /bin/false exited with status 1" in p.stderr
    assert oci.state("hs1")["status"] == "stopped"
    oci("delete", "hs1", check=True)


def test_hook_env_is_exactly_the_configured_env(oci, bundle, tmp_path):
    out = tmp_path / "env"
    bundle.config["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", f"env > {out}"],
                                           "env": ["A=1", "B=two"]}]}
    oci("run", "-b", bundle.args("true").save(), "he1", check=True)
    env = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert env["A"] == "1" and env["B"] == "two" and "HOME" not in env
