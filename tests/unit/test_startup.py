"""Engines start hull-oci 3-4 times per container, so the verbs they call must not import what they
do not need. These tests pin that down by module list (deterministic), not by timing."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# each costs milliseconds per start: json/re/enum/functools (fastjson and _signal avoid them),
# logging (cgroupspy.nodes), ctypes and the setup machinery (only create needs them)
HEAVY = {"json", "re", "enum", "functools", "logging", "subprocess", "ctypes", "runtime.container.init",
         "runtime.container.spec", "runtime.linux.seccomp", "cgroupspy",
         "runtime.tracing"}  # --trace's machinery: only the flag (runtime.trace) loads when it is off


def imported_by(*argv) -> set:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from runtime.cli.oci import main; "
            "sys.argv = ['hull-oci'] + sys.argv[2:]; main(); "
            "print(' '.join(sys.modules))")
    p = subprocess.run([sys.executable, "-I", "-S", "-c", code, REPO, *argv], capture_output=True, text=True)
    return set(p.stdout.split())


@pytest.mark.parametrize("verb", [["state", "x"], ["start", "x"], ["kill", "x", "KILL"], ["delete", "x"],
                                  ["delete", "--force", "x"], ["--version"]])
def test_engine_verbs_stay_light(tmp_path, verb):
    modules = imported_by("--root", str(tmp_path), *verb)
    assert "runtime.cli.oci" in modules
    assert not modules & HEAVY, sorted(modules & HEAVY)


def test_hull_loads_no_trace_machinery_unless_asked(tmp_path):
    """--trace off costs a flag check: runtime.tracing (formatting, the sink) is not even imported,
    on the way to any verb; with --trace it is."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from runtime.cli.main import main; "
            "main(sys.argv[2:]); print(' '.join(sys.modules))")

    def modules(*argv):
        p = subprocess.run([sys.executable, "-I", "-S", "-c", code, REPO, "--root", str(tmp_path), *argv],
                           capture_output=True, text=True)
        return set(p.stdout.split()), p.stderr
    for argv in (["images"], ["ps", "-a"], ["inspect", "nothing"], ["--version"]):
        loaded, _ = modules(*argv)
        assert "runtime.trace" in loaded or argv == ["--version"]
        assert "runtime.tracing" not in loaded, argv
    loaded, _ = modules("--trace", "images")
    assert "runtime.tracing" in loaded
