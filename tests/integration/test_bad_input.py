"""Bad input: one clear line on stderr (and in --log), exit 1, and nothing left behind.

The `oci` fixture itself fails a test that leaves state, mounts or processes.
"""
import json
import os

import pytest

pytestmark = pytest.mark.root


def fails(oci, *args, expect: str):
    p = oci(*args)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert expect in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    return p


@pytest.mark.parametrize("verb", [["state"], ["start"], ["kill"], ["delete"]])
def test_unknown_container(oci, verb):
    fails(oci, *verb, "ghost", expect="does not exist")


@pytest.mark.parametrize("cid", ["a/b", "..", ".", "x/../y", "has space", ""])
def test_invalid_ids(oci, bundle, cid):
    fails(oci, "create", "-b", bundle.args("true").save(), cid, expect="invalid container ID")
    assert os.listdir(oci.root) == []


def test_duplicate_id_keeps_the_first(oci, bundle):
    path = bundle.args("sleep", "100").save()
    oci("create", "-b", path, "dup", check=True)
    pid = oci.state("dup")["pid"]
    fails(oci, "create", "-b", path, "dup", expect="already exists")
    fails(oci, "run", "-b", path, "dup", expect="already exists")
    assert oci.state("dup")["pid"] == pid and oci.state("dup")["status"] == "created"
    oci("delete", "dup", check=True)


def test_missing_bundle_and_config(oci, tmp_path):
    fails(oci, "create", "-b", tmp_path / "nope", "b1", expect="does not exist")
    fails(oci, "create", "-b", tmp_path, "b2", expect="config.json: no such file or directory")


@pytest.mark.parametrize("mutate, expect", [
    (lambda c: "not json {", "not valid JSON"),
    (lambda c: [], "top level must be a JSON object"),
    (lambda c: c["process"].update(args="sh"), "process.args must be a list"),
    (lambda c: c["process"].update(args=[1]), "process.args[0] must be a string"),
    (lambda c: c["process"].update(cwd="relative"), "process.cwd must be an absolute path"),
    (lambda c: c["process"].update(terminal="yes"), "process.terminal must be a boolean"),
    (lambda c: c["process"]["user"].update(uid=-1), "process.user.uid must be between"),
    (lambda c: c["process"]["user"].update(uid=True), "process.user.uid must be an integer"),
    (lambda c: c["process"].update(env=["NOEQUALS"]), "not KEY=VALUE"),
    (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}), "unknown namespace type 'bogus'"),
    (lambda c: c["linux"]["namespaces"].append({"type": "pid"}), "listed twice"),
    (lambda c: c["linux"]["namespaces"].append({"type": "time", "path": "rel/ns"}), "must be an absolute path"),
    (lambda c: c.__delitem__("root"), "root is required"),
    (lambda c: c.__delitem__("ociVersion"), "ociVersion is required"),
    (lambda c: c.update(ociVersion="2.0.0"), "not supported"),
    (lambda c: c["root"].update(path="/does/not/exist"), "root.path '/does/not/exist' does not exist"),
    (lambda c: c["mounts"].append({"type": "tmpfs"}), "mounts[7].destination is required"),
    (lambda c: c.update(hooks={"prestart": [{"path": "rel"}]}), "hooks.prestart[0].path must be an absolute"),
    (lambda c: c.update(hooks={"preboot": []}), "unknown hook kind 'preboot'"),
    (lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]), "not a known rlimit"),
    (lambda c: c["linux"].update(namespaces=[{"type": "pid"}]), "maskedPaths/readonlyPaths need a mount namespace"),
    (lambda c: c["linux"].update(namespaces=[{"type": "mount"}]), "hostname/domainname need a uts namespace"),
    (lambda c: c["linux"].update(rootfsPropagation="sideways"), "rootfsPropagation 'sideways'"),
    (lambda c: c["linux"]["devices"].append({"path": "/dev/x", "type": "q"}) if "devices" in c["linux"]
     else c["linux"].update(devices=[{"path": "/dev/x", "type": "q"}]), "type must be one of c, b, u, p"),
    (lambda c: c["process"].update(args=[]), "process.args must name the program"),
])
def test_malformed_config(oci, bundle, mutate, expect):
    bundle.args("true")
    result = mutate(bundle.config)
    path = os.path.join(bundle.path, "config.json")
    with open(path, "w") as f:
        if isinstance(result, (str, list)):
            f.write(result if isinstance(result, str) else json.dumps(result))
        else:
            json.dump(bundle.config, f)
    log = os.path.join(bundle.path, "log.json")
    fails(oci, "--log", log, "--log-format", "json", "create", "-b", bundle.path, "bad", expect=expect)
    entry = json.loads(open(log).read().splitlines()[-1])
    assert entry["level"] == "error" and expect in entry["msg"]
    assert os.listdir(oci.root) == []


def test_executable_not_found_fails_at_create(oci, bundle):
    fails(oci, "create", "-b", bundle.args("no-such-program").save(), "e1",
          expect='exec: "no-such-program": executable file not found in $PATH')
    fails(oci, "create", "-b", bundle.args("/etc/passwd").save(), "e2", expect="permission denied")
    fails(oci, "create", "-b", bundle.args("/nope").save(), "e3", expect="no such file or directory")
    assert os.listdir(oci.root) == []


def test_bind_source_missing(oci, bundle, tmp_path):
    bundle.config["mounts"].append({"destination": "/x", "type": "bind", "source": str(tmp_path / "missing"),
                                    "options": ["rbind"]})
    fails(oci, "create", "-b", bundle.args("true").save(), "m1", expect="no such file or directory")
    assert os.listdir(oci.root) == []


def test_bad_signal_and_flags(oci, bundle):
    oci("create", "-b", bundle.args("sleep", "100").save(), "sg", check=True)
    fails(oci, "kill", "sg", "SIGNOPE", expect="invalid signal")
    fails(oci, "kill", "sg", "99", expect="invalid signal")
    fails(oci, "create", "--bogus", "x", expect="flag provided but not defined: --bogus")
    fails(oci, "start", expect="missing ID")
    fails(oci, "frobnicate", expect="unknown command")
    oci("delete", "sg", check=True)


def test_start_twice_and_delete_running(oci, bundle):
    oci("run", "-d", "-b", bundle.args("sleep", "100").save(), "st", check=True)
    fails(oci, "start", "st", expect="running, not created")
    fails(oci, "delete", "st", expect="not stopped")
    oci("delete", "--force", "st", check=True)
