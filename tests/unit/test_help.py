"""hull's help and bash completion, without root or a store: docker-style help for the management
commands, a global help that shows only what users type, an example for every verb, and a
completion script generated from the verb tables, checked by running it in bash. Where the script
would ask hull for names, a bash function named hull answers instead (the machine's hull is never
run); tests/integration/test_completion.py asks a real one."""
import shlex
import subprocess

import pytest

from runtime.cli.completion import bash_script
from runtime.cli.examples import EXAMPLES
from runtime.cli.main import GROUPS, MANAGEMENT, _tables, hidden, main, subcommands


def run(capsys, *argv) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def listed(text: str, title: str) -> list:
    """The names of a help section: the lines after `title` up to the first blank one."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return [line.split()[0] for line in lines[start:end]]


@pytest.mark.parametrize("group", sorted(MANAGEMENT))
@pytest.mark.parametrize("how", [[], ["--help"], ["-h"]])
def test_management_help_lists_its_subcommands(capsys, group, how):
    out = run(capsys, group, *how)
    assert out.startswith(f"Usage:  hull {group} COMMAND\n\n{GROUPS[group]}\n")
    assert listed(out, "Commands:") == [name for name, _ in subcommands(group)]
    assert f"Run 'hull {group} COMMAND --help' for more information on a command." in out
    assert "Management Commands:" not in out  # not the global help


def test_management_help_after_global_flags(capsys, tmp_path):
    out = run(capsys, "--root", str(tmp_path / "r"), "network", "--help")
    assert out.startswith("Usage:  hull network COMMAND") and "disconnect" in out
    assert not (tmp_path / "r").exists()


def test_management_help_shows_no_aliases_or_internal_names(capsys):
    names = listed(run(capsys, "image"), "Commands:")
    assert "ls" in names and "rm" in names and "inspect" in names
    assert not {"list", "remove", "images", "rmi", "image-inspect"} & set(names)


def test_global_help_has_management_commands_and_no_internal_names(capsys):
    out = run(capsys, "--help")
    assert listed(out, "Management Commands:") == ["builder", "container", "image", "network", "system", "volume"]
    commands = listed(out, "Commands:")
    assert {"run", "ps", "build", "pull", "push", "images", "exec", "logs", "stop", "completion"} <= set(commands)
    assert [c for c in commands if "-" in c or c in MANAGEMENT or c == "prune"] == []
    for internal in ("image-inspect", "volume-create", "system-prune", "builder-prune", "network-create",
                     "container-prune"):
        assert internal not in out
    assert "Run 'hull COMMAND --help'" in out


def test_internal_names_stay_callable(capsys):
    out = run(capsys, "image-inspect", "--help")
    assert out.startswith("usage: hull image-inspect [flags] IMAGE")


def test_every_verb_has_an_example():
    verbs, _ = _tables()
    assert sorted(set(verbs) - set(EXAMPLES)) == []
    assert sorted(set(EXAMPLES) - set(verbs)) == []  # none left for a verb that is gone
    for name, example in EXAMPLES.items():
        assert all("hull " in line for line in example.splitlines()), name


def test_verb_help_shows_its_example(capsys):
    out = run(capsys, "stop", "--help")
    assert out.startswith("usage: hull stop [flags] CONTAINER [CONTAINER...]\n")
    assert "\nExample:\n" in out and "  hull stop -t 1 web\n" in out


@pytest.mark.parametrize("argv, usage", [
    (["image", "ls", "--help"], "usage: hull image ls [flags] [REFERENCE]\n"),
    (["image", "list", "-h"], "usage: hull image list [flags] [REFERENCE]\n"),
    (["image", "rm", "--help"], "usage: hull image rm [flags] IMAGE [IMAGE...]\n"),
    (["container", "ls", "--help"], "usage: hull container ls [flags]\n"),
    (["network", "connect", "--help"], "usage: hull network connect [flags] NETWORK CONTAINER\n"),
    (["images", "--help"], "usage: hull images [flags] [REFERENCE]\n"),
])
def test_subcommand_help_shows_the_name_typed(capsys, argv, usage):
    out = run(capsys, *argv)
    assert out.startswith(usage) and "Example:" in out


def test_subcommand_errors_show_the_name_typed(capsys):
    assert main(["image", "inspect"]) == 1  # docker: a missing argument exits 1, a wrong flag 125
    err = capsys.readouterr().err
    assert "image inspect: missing IMAGE" in err and "image-inspect" not in err


# -- bash completion ------------------------------------------------------------------------------

# stands in for hull when the script asks for names: records its arguments, answers canned names
FAKE_HULL = """
hull() {
    echo "$*" >> "$CALLS"
    case "$*" in
        *"ps -a --format {{.Names}}") printf 'web\\ndb\\n' ;;
        *"images --format {{.Repository}}:{{.Tag}}") printf 'busybox:latest\\n<none>:<none>\\napp:1\\n' ;;
        *"network ls --format {{.Name}}") printf 'bridge\\nhost\\nnone\\napp\\n' ;;
        *"volume ls --format {{.Name}}") printf 'data\\n' ;;
        *) return 1 ;;
    esac
}
"""


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("completion") / "hull"
    path.write_text(bash_script())
    return path


def complete(script, *words, calls=None) -> list:
    """COMPREPLY when bash completes the last of words (as bash splits them: `--root=x` is
    `--root = x`, `busybox:la` is `busybox : la`)."""
    code = (f"source {shlex.quote(str(script))}\n{FAKE_HULL}\n"
            f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
            '_hull; printf "%s\\n" "${COMPREPLY[@]}"')
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", code], capture_output=True, text=True, timeout=30,
                       env={"PATH": "/usr/bin:/bin", "CALLS": str(calls or "/dev/null")})
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return p.stdout.split()


def test_completion_command_prints_a_valid_script(capsys, tmp_path):
    out = run(capsys, "--root", str(tmp_path / "r"), "completion", "bash")
    assert out == bash_script() and "complete -o default -F _hull hull" in out
    assert not (tmp_path / "r").exists()  # it never needs the root (setup runs it as it installs)
    path = tmp_path / "hull"
    path.write_text(out)
    p = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert main(["completion", "fish"]) != 0


@pytest.mark.parametrize("words, offered", [
    (["hull", "sto"], ["stop"]),
    (["hull", "stop", "--ti"], ["--time"]),
    (["hull", "stop", "-"], ["--time", "-t", "--signal", "-s", "--help"]),
    (["hull", "image", "ls", "--f"], ["--filter", "--format"]),
    (["hull", "--root", "/r", "container", "st"], ["start", "stats", "stop"]),
    (["hull", "--roo"], ["--root"]),
    (["hull", "system", ""], ["df", "events", "info", "prune", "reset", "service"]),
    (["hull", "network", "dis"], ["disconnect"]),
    (["hull", "completion", ""], ["bash"]),
    (["hull", "run", "-d", "busybox", "sh", ""], []),  # the container's command: bash's default
    (["hull", "stop", "-t", ""], []),  # a flag's value hull cannot guess
])
def test_completes_commands_and_flags(script, words, offered):
    assert complete(script, *words) == offered


def test_completes_management_subcommands(script):
    for group in MANAGEMENT:
        assert complete(script, "hull", group, "") == [name for name, _ in subcommands(group)]


def test_completes_only_what_users_type(script):
    offered = complete(script, "hull", "")
    assert {"run", "ps", "image", "network", "completion"} <= set(offered)
    assert [c for c in offered if hidden(c)] == []


def test_every_verb_completes_its_flags(script):
    verbs, _ = _tables()
    for name, verb in verbs.items():
        if verb.flags:
            assert set(complete(script, "hull", name, "--")) == {f"--{f.name}" for f in verb.flags} | {"--help"}, name


def test_completes_names_from_the_lines_root(script, tmp_path):
    calls = tmp_path / "calls"
    assert complete(script, "hull", "--root", "/r", "stop", "web", "", calls=calls) == ["web", "db"]
    assert complete(script, "hull", "--root", "=", "/s", "network", "rm", "", calls=calls) == [
        "bridge", "host", "none", "app"]
    assert complete(script, "hull", "volume", "rm", "", calls=calls) == ["data"]
    assert calls.read_text().splitlines() == ["--root /r ps -a --format {{.Names}}",
                                              "--root=/s network ls --format {{.Name}}",
                                              "volume ls --format {{.Name}}"]


@pytest.mark.parametrize("words, offered", [
    (["hull", "rmi", "b"], ["busybox:latest"]),
    (["hull", "rmi", ""], ["busybox:latest", "app:1"]),  # no <none>
    (["hull", "run", "-it", "busybox", ":", "la"], ["latest"]),  # bash keeps `busybox:`, replaces `la`
    (["hull", "image", "inspect", "ap"], ["app:1"]),
    (["hull", "inspect", ""], ["web", "db", "busybox:latest", "app:1"]),
    (["hull", "network", "connect", "app", ""], ["web", "db"]),
    (["hull", "run", "--network", "a"], ["app"]),
    (["hull", "run", "--network", "=", "b"], ["bridge"]),
    (["hull", "exec", "-it", "-e", "A", "=", "1", "w"], ["web"]),
])
def test_completes_the_names_a_positional_takes(script, words, offered):
    assert complete(script, *words) == offered
