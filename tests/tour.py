"""Running a document's shell blocks as a reader would: the README's tour (test_readme.py) and the
labs of docs/labs/ (test_labs.py).

Every ```sh block runs, in order, except those marked `<!-- not a tour block: REASON -->` on the
line before the fence (a terminal, another engine, Debian's mirror, the installer). Each `###`
section runs in one bash (`set -euo pipefail`, traced with -x) after the blocks of its `##`
chapter that come before the first section (the tour's `tour=$(mktemp -d)`), from the clone's root,
on a fresh root of its own: `hull` on PATH is hull with the engine fixture's --root and --config
(busybox:latest imported), `hull-oci` is hull-oci with a private --root, and the whole bash runs
inside the fixture's network namespace, which has only loopback: nothing it does can reach a
registry or any address outside the test (Docker Hub included). A section must leave nothing
behind: no container (the engine fixture checks, with mounts, cgroups and the root's processes), no
hull-oci state, no process mentioning its scratch directory (a registry left running), and no file
written into the clone."""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from helpers import hull_cmd, hull_oci_cmd, processes_mentioning, reap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = "<!-- not a tour block"
SHELLS = ("sh", "bash", "shell")
TIMEOUT = float(os.environ.get("HULL_TOUR_TIMEOUT") or 180)  # seconds per section
TAIL = 60  # lines of the trace shown when a section fails


def fenced_blocks(text: str):
    """(chapter, section, lang, marked, code, line) of each fenced block, in order; chapter is the
    `##` heading above it, section the `###` one (None before the chapter's first)."""
    lines = text.splitlines()
    chapter = section = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(`{3,}|~{3,})\s*([\w+-]*)", line)
        if m:
            fence, lang = m.group(1), m.group(2).lower()
            j = i + 1
            while j < len(lines):
                close = re.match(r"^(`{3,}|~{3,})\s*$", lines[j])
                if close and close.group(1)[0] == fence[0] and len(close.group(1)) >= len(fence):
                    break
                j += 1
            marked = i > 0 and lines[i - 1].strip().startswith(MARK)
            yield chapter, section, lang, marked, "\n".join(lines[i + 1:j]), i + 1
            i = j + 1
            continue
        if line.startswith("## "):
            chapter, section = line[3:].strip(), None
        elif line.startswith("### "):
            section = line[4:].strip()
        i += 1


def tour_blocks(text: str) -> list:
    """(chapter, section, code, line) of every shell block not marked as outside the tour."""
    return [(c, s, code, n) for c, s, lang, marked, code, n in fenced_blocks(text) if lang in SHELLS and not marked]


def tour_sections(text: str, doc: str = "README.md") -> list:
    """[(title, script)]: per `###` section, its chapter's opening blocks then its own; a chapter
    with opening blocks and no sections of blocks is one section. Each block starts with a traced
    no-op naming its README line, so the trace shows where a failing command comes from."""
    def part(code, line):
        return f": {doc} line {line}\n{code}\n"

    opening, sections = {}, {}
    for chapter, section, code, line in tour_blocks(text):
        if section is None:
            opening.setdefault(chapter, []).append(part(code, line))
        else:
            sections.setdefault((chapter, section), []).append(part(code, line))
    out = []
    for (chapter, section), parts in sections.items():
        out.append((section, "set -euo pipefail\n" + "".join(opening.get(chapter, []) + parts)))
    for chapter, parts in opening.items():
        if not any(c == chapter for c, _ in sections):
            out.append((chapter, "set -euo pipefail\n" + "".join(parts)))
    return out


def slug(title: str) -> str:
    return re.sub(r"\W+", "-", title).strip("-").lower()[:40]


def _wrapper(path, argv: list) -> None:
    path.write_text(f"#!/bin/sh\nexec {shlex.join(argv)} \"$@\"\n")
    path.chmod(0o755)


def _mounts_under(*paths) -> set:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return {p for p in points if any(p == str(d) or p.startswith(f"{d}/") for d in paths)}


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def run_section(doc: str, title: str, script: str, engine, tmp_path) -> None:
    """Run one section's script as a reader would (see the module's docstring); fail naming doc."""
    scratch, bin_dir = tmp_path / "tmp", tmp_path / "bin"
    scratch.mkdir()
    bin_dir.mkdir()
    oci_root = tempfile.mkdtemp(prefix="hull-test-", dir="/run")
    _wrapper(bin_dir / "hull", hull_cmd() + [f"--root={engine.root}", f"--config={engine.config}"])
    _wrapper(bin_dir / "hull-oci", hull_oci_cmd() + ["--root", oci_root])
    env = {**engine.env, "PATH": f"{bin_dir}:{engine.env['PATH']}", "TMPDIR": str(scratch),
           "HULL_ROOT": engine.root, "HULL_CONFIG": engine.config}  # HULL_ROOT: for rootfs/images.sh
    if hull_cmd()[0] == sys.executable:  # no launcher installed: the modules of this checkout
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    path = tmp_path / "section.sh"
    path.write_text(script)
    in_clone = set(os.listdir(REPO))
    mounts_before = _mounts_under(scratch, oci_root)  # the engine root's are the engine fixture's
    timed_out = False
    with open(tmp_path / "trace.txt", "w+") as out:  # a file: a container keeps the stdio it got
        proc = subprocess.Popen(engine.netns.enter + ["bash", "-x", str(path)], cwd=REPO, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)  # bash and its jobs; hull's monitor has a session of its own
            rc = proc.wait()
        out.seek(0)
        trace = out.read().splitlines()

    problems = []

    def stragglers() -> list:  # jobs of the section: by their arguments, or still bash's fork running it
        return sorted(set(processes_mentioning(str(scratch)) + processes_mentioning(str(path))))

    deadline = time.time() + 10
    while stragglers() and time.time() < deadline:
        reap()
        time.sleep(0.1)
    for pid in stragglers():
        problems.append(f"process left behind: {pid} {_cmdline(pid)}")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for cid in sorted(os.listdir(oci_root)):
        problems.append(f"hull-oci container left behind: {cid}")
        subprocess.run(hull_oci_cmd() + ["--root", oci_root, "delete", "--force", cid], capture_output=True)
    shutil.rmtree(oci_root, ignore_errors=True)
    reap()
    for m in sorted(_mounts_under(scratch, oci_root) - mounts_before, key=len, reverse=True):
        problems.append(f"mount left behind: {m}")
        subprocess.run(["umount", "-l", m], capture_output=True)
    written = {n for n in set(os.listdir(REPO)) - in_clone if n not in (".pytest_cache", "__pycache__")}
    problems += [f"written into the clone: {n}" for n in sorted(written)]

    if timed_out or rc != 0 or problems:
        if timed_out:
            what = f"timed out after {TIMEOUT:.0f} s"
        elif rc != 0:
            what = f"bash exited {rc}"
        else:
            what = "ran, but left things behind"
        commands = [line for line in trace if line.startswith("+")]
        last = commands[-1] if commands else "(nothing ran)"
        blocks = [line for line in commands if line.startswith(f"+ : {doc} line")]
        where = blocks[-1][len("+ : "):] if blocks else "?"
        shown = "\n".join("    " + line for line in trace[-TAIL:])
        pytest.fail(f"{doc} section {title!r}: {what}\n  last command: {last} (in the block at {where})\n"
                    + "".join(f"  {p}\n" for p in problems)
                    + f"  the last {min(TAIL, len(trace))} lines of its trace and output:\n{shown}", pytrace=False)
