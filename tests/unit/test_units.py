"""Unit tests that need no root: parsers, option tables, path resolution, ID rules."""
import os

import pytest

from runtime.cli.args import Flag, Verb, parse
from runtime.container import spec as spec_mod
from runtime.container.defaults import default_config
from runtime.container.lifecycle import parse_signal
from runtime.container.state import validate_id
from runtime.errors import InvalidArgument, InvalidSpec
from runtime.linux import libc, mounts


def test_default_config_parses(tmp_path):
    s = spec_mod.parse(default_config(), str(tmp_path))
    assert s.root_path == str(tmp_path / "rootfs") and s.root_readonly
    assert s.process.args == ["sh"] and s.process.terminal
    assert [n.type for n in s.namespaces] == ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    assert s.mounts[0].destination == "/proc"
    assert s.process.rlimits[0].type == "RLIMIT_NOFILE" and s.process.rlimits[0].hard == 1024


def test_mount_destination_is_normalised(tmp_path):
    cfg = default_config()
    cfg["mounts"] = [{"destination": "dev/../../etc//x"}]
    assert spec_mod.parse(cfg, str(tmp_path)).mounts[0].destination == "/etc/x"


def test_rlimit_soft_above_hard(tmp_path):
    cfg = default_config()
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]
    with pytest.raises(InvalidSpec, match="soft limit 10 is above its hard limit 5"):
        spec_mod.parse(cfg, str(tmp_path))


def test_hostname_needs_uts(tmp_path):
    cfg = default_config()
    cfg["linux"]["namespaces"] = [{"type": "mount"}]
    with pytest.raises(InvalidSpec, match="uts namespace"):
        spec_mod.parse(cfg, str(tmp_path))


@pytest.mark.parametrize("text, num", [("TERM", 15), ("SIGTERM", 15), ("term", 15), ("9", 9), ("KILL", 9),
                                       ("SIGRTMIN", 34), ("RTMIN+2", 36), ("SIGRTMAX-1", 63), ("0", 0)])
def test_parse_signal(text, num):
    assert parse_signal(text) == num


@pytest.mark.parametrize("bad", ["", "65", "SIGBOGUS", "-1", "RTMIN+x", "SIG_DFL", "NSIG"])
def test_parse_signal_rejects(bad):
    with pytest.raises(InvalidArgument):
        parse_signal(bad)


def test_mount_options():
    o = mounts.Options(["nosuid", "ro", "rw", "noexec", "rbind", "rslave", "mode=755", "size=1m", "tmpcopyup"])
    assert o.flags == libc.MS_NOSUID | libc.MS_NOEXEC | libc.MS_BIND | libc.MS_REC
    assert o.propagation == [libc.MS_SLAVE | libc.MS_REC]
    assert o.data == "mode=755,size=1m" and o.is_bind


def test_secure_join_never_leaves_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/../../../../etc", root / "abs")
    os.symlink("../../..", root / "etc" / "up")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    assert mounts.secure_join(str(root), "/abs/passwd") == str(root / "etc" / "passwd")
    assert mounts.secure_join(str(root), "etc/up/x") == str(root / "x")
    assert mounts.secure_join(str(root), "../../x/./y") == str(root / "x" / "y")
    with pytest.raises(OSError, match="too many levels"):
        mounts.secure_join(str(root), "loop1/x")


@pytest.mark.parametrize("cid", ["a", "A-1_b.c+d", "x" * 100])
def test_valid_ids(cid):
    assert validate_id(cid) == cid


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b", "a b", "é/"])
def test_invalid_ids(cid):
    with pytest.raises(InvalidArgument):
        validate_id(cid)


def test_args_parser_runc_style():
    verbs = {"create": Verb("create", "", [Flag("bundle", "b", value=True, default="."), Flag("detach", "d")],
                            ["id"]),
             "kill": Verb("kill", "", [Flag("all", "a")], ["id"], ["signal"])}
    g = [Flag("root", value=True, default="/run/hull"), Flag("debug")]
    a = parse(["--root=/r", "--debug", "create", "-bundle", "/b", "-d", "c1"], g, verbs)
    assert (a.root, a.debug, a.verb, a.bundle, a.detach, a.id) == ("/r", True, "create", "/b", True, "c1")
    a = parse(["kill", "c1"], g, verbs)
    assert a.signal is None and a.all is False and a.root == "/run/hull"
    a = parse(["kill", "--all", "c1", "KILL"], g, verbs)
    assert a.signal == "KILL" and a.all
    with pytest.raises(InvalidArgument, match="unexpected argument"):
        parse(["kill", "c1", "KILL", "extra"], g, verbs)
    with pytest.raises(InvalidArgument, match="needs an argument"):
        parse(["create", "c1", "--bundle"], g, verbs)


def test_flags_after_names_but_not_inside_a_command():
    """docker's habit: `stop web -t 1`, `rm web -f`; but `exec web ls -l` and `run IMAGE sh -c`
    keep the command's own flags, and `--` ends flags anywhere."""
    verbs = {"stop": Verb("stop", "", [Flag("time", "t", value=True)], ["container"], rest=True,
                          rest_name="CONTAINER..."),
             "exec": Verb("exec", "", [Flag("tty", "t")], ["container"], rest=True, rest_name="COMMAND [ARG...]")}
    a = parse(["stop", "web", "-t", "1", "db"], [], verbs)
    assert (a.container, a.command, a.time) == ("web", ["db"], "1")
    a = parse(["stop", "--", "web", "-t"], [], verbs)
    assert (a.container, a.command, a.time) == ("web", ["-t"], None)
    a = parse(["exec", "-t", "web", "ls", "-t"], [], verbs)
    assert (a.container, a.command, a.tty) == ("web", ["ls", "-t"], True)


FASTJSON_SAMPLES = [default_config(), {}, [], [[]], {"a": [1, 2.5, None, True, False, "\u00fc\n\"x"], "b": {}},
                    "text", 0, -1.5e300, {"k": [{"x": []}]}]


@pytest.mark.parametrize("obj", FASTJSON_SAMPLES)
def test_fastjson_matches_json(obj):
    import json
    from runtime import fastjson
    assert fastjson.dumps(obj) == json.dumps(obj)
    assert fastjson.dumps(obj, indent=2) == json.dumps(obj, indent=2)
    assert fastjson.loads(json.dumps(obj)) == obj
    assert fastjson.loads(" \n" + json.dumps(obj, indent=2).encode().decode() + "\n") == obj
    assert fastjson.loads(json.dumps(obj).encode()) == obj


@pytest.mark.parametrize("bad", ["", "{", "{} x", "[1,]", b"\xff\xfe", "nul", '{"a" 1}', "[1] [2]"])
def test_fastjson_errors_read_as_json(bad):
    """Bad input raises json's own error (a ValueError) with json's message."""
    import json
    from runtime import fastjson
    with pytest.raises(ValueError) as ours:
        fastjson.loads(bad)
    with pytest.raises(ValueError) as theirs:
        json.loads(bad)
    assert str(ours.value) == str(theirs.value)
