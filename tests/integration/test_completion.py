"""`hull completion bash` against a real root: the names the script offers come from the hull on
the command line, asked about the root the line names (--root). Commands and flags, which need no
root, are checked in tests/unit/test_help.py."""
import shlex
import subprocess

import pytest

from helpers import hull_cmd

pytestmark = pytest.mark.root


def complete(engine, script, *words) -> list:
    """COMPREPLY when bash completes the last of words; `hull` there is the hull under test, run in
    the test's network namespace as the engine fixture runs it."""
    code = (f"source {shlex.quote(str(script))}\n"
            f'hull() {{ {shlex.join(engine.prefix + hull_cmd())} "$@"; }}\n'
            f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
            '_hull; printf "%s\\n" "${COMPREPLY[@]}"')
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", code], capture_output=True, text=True, timeout=60,
                       env=engine.env)
    assert p.returncode == 0, p.stderr
    return p.stdout.split()


def test_completion_offers_the_names_of_the_lines_root(engine, tmp_path):
    script = tmp_path / "hull.bash"
    script.write_text(engine("completion", "bash").stdout)
    engine("create", "--name", "web", "busybox", "sleep", "100")
    engine("network", "create", "app")
    engine("volume", "create", "data")
    try:
        line = ["hull", "--root", engine.root]
        assert complete(engine, script, *line, "stop", "") == ["web"]
        assert complete(engine, script, *line, "container", "rm", "w") == ["web"]
        assert "app" in complete(engine, script, *line, "network", "rm", "")
        assert complete(engine, script, *line, "volume", "rm", "") == ["data"]
        assert complete(engine, script, *line, "run", "bus") == ["busybox:latest"]
        # `--root=X` reaches the script in pieces, as bash splits it at "="
        assert complete(engine, script, "hull", "--root", "=", engine.root, "volume", "inspect", "d") == ["data"]
    finally:
        engine("rm", "-f", "web", check=False)
        engine("network", "rm", "app", check=False)
        engine("volume", "rm", "data", check=False)
