"""kill -9 at any moment leaves nothing that the next command cannot see and remove (issue 18).

Each verb runs a few hundred times, killed after a random delay within its own duration; after
each kill what the runtime reports must be true and the engine's recovery call must leave no
state, cgroup, mount or process behind (tests/killing.py). HULL_KILL_ROUNDS sets the rounds.
"""
import json
import os
import random
import subprocess
import sys

import pytest

from helpers import hull_oci_cmd
from killing import EngineKills, OciKills

pytestmark = pytest.mark.root
ROUNDS = int(os.environ.get("HULL_KILL_ROUNDS", "200"))
ENGINE_ROUNDS = int(os.environ.get("HULL_KILL_ROUNDS", "200"))
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("verb", OciKills.VERBS)
def test_oci_verb_killed_at_random_moments(oci, bundle, verb):
    path = bundle.args("sleep", "100").save()
    kills = OciKills(hull_oci_cmd(), oci.root, path, bundle.config["root"]["path"])
    problems = kills.rounds(verb, ROUNDS, random.Random(verb))
    assert not problems, f"{len(problems)} problems, the first: " + "; ".join(problems[:5])


def test_oci_create_without_a_mount_namespace_killed(oci, bundle):
    """Without a mount namespace of its own the container's root is a bind in the caller's
    namespace: a killed create must not leave it there. (In a private namespace of the test's.)"""
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"] if n["type"] != "mount"]
    for key in ("maskedPaths", "readonlyPaths"):
        bundle.config["linux"].pop(key, None)
    path = bundle.args("sleep", "100").save()
    args = {"oci": hull_oci_cmd(), "root": oci.root, "bundle": path, "rootfs": bundle.config["root"]["path"],
            "verbs": ["create", "delete"], "n": max(ROUNDS // 4, 10), "seed": 18}
    p = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable,
                        os.path.join(HERE, "killing.py"), "oci", json.dumps(args)],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    problems = json.loads(p.stdout)
    assert not problems, f"{len(problems)} problems, the first: " + "; ".join(problems[:5])


@pytest.mark.parametrize("verb", EngineKills.VERBS)
def test_engine_command_killed_at_random_moments(engine, tmp_path, verb):
    reg = None
    if verb == "pull":
        from registries import RegistryServer
        reg = RegistryServer(str(tmp_path), netns=engine.netns.path)
    try:
        kills = EngineKills(engine, "busybox", str(tmp_path), reg.addr if reg else None)
        problems = kills.rounds(verb, ENGINE_ROUNDS, random.Random(verb))
    finally:
        if reg:
            reg.stop()
    assert not problems, f"{len(problems)} problems, the first: " + "; ".join(problems[:5])
