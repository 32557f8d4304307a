"""docs/labs/: every command of every lab runs, as a student runs it (tests/tour.py: each `###`
section in a fresh bash on a fresh root inside the test's network namespace, leaving nothing
behind), so the labs never rot; the exercises' answers are shell blocks that check themselves.
And each lab keeps its shape: two exercises with answers, where to look in --trace and explain,
and pointers into runtime/ that exist."""
import glob
import os
import re

import pytest

from tour import REPO, fenced_blocks, run_section, slug, tour_blocks, tour_sections

pytestmark = pytest.mark.root

LABS = sorted(glob.glob(os.path.join(REPO, "docs", "labs", "[0-9][0-9]-*.md")))


def _doc(path: str) -> str:
    return os.path.relpath(path, REPO)


def _sections() -> list:
    out = []
    for path in LABS:
        with open(path) as f:
            out += [(_doc(path), title, script) for title, script in tour_sections(f.read(), _doc(path))]
    return out


SECTIONS = _sections()


def test_every_lab_has_exercises_with_checked_answers_and_real_pointers():
    assert len(LABS) >= 9, LABS
    with open(os.path.join(REPO, "docs", "labs", "README.md")) as f:
        index = f.read()
    problems = []
    for path, func in re.findall(r"`([\w/]+\.py)` `(\w+)`", index):  # the map names them from runtime/
        with open(os.path.join(REPO, "runtime", path)) as f:
            if not re.search(rf"^\s*(def|class) {func}\b", f.read(), re.M):
                problems.append(f"docs/labs/README.md: runtime/{path} has no {func}")
    for path in LABS:
        doc = _doc(path)
        with open(path) as f:
            text = f.read()
        if os.path.basename(path) not in index:
            problems.append(f"{doc}: not in docs/labs/README.md's map")
        answers = re.findall(r"<details>\s*<summary>Answer</summary>(.*?)</details>", text, re.S)
        if len(answers) < 2:
            problems.append(f"{doc}: {len(answers)} exercise answers (two wanted)")
        for i, answer in enumerate(answers):
            if not re.search(r"^```(sh|bash|shell)\n", answer, re.M):
                problems.append(f"{doc}: answer {i + 1} has no shell block that checks it")
        for tool in ("hull --trace", "hull explain"):
            if tool not in text:
                problems.append(f"{doc}: says nothing of `{tool}`")
        for ref in sorted(set(re.findall(r"\bruntime/[\w/]+\.py\b", text))):
            if not os.path.exists(os.path.join(REPO, ref)):
                problems.append(f"{doc}: names {ref}, which does not exist")
        for func in re.findall(r"`(runtime/[\w/]+\.py)` `(\w+)`", text):
            with open(os.path.join(REPO, func[0])) as f:
                if not re.search(rf"^\s*(def|class) {func[1]}\b", f.read(), re.M):
                    problems.append(f"{doc}: {func[0]} has no {func[1]}")
        for _, _, lang, marked, _, line in fenced_blocks(text):
            if marked and not re.match(r"<!-- not a tour block: \S.* -->$", text.splitlines()[line - 2].strip()):
                problems.append(f"{doc} line {line - 1}: a mark without its reason")
        for _, section, code, line in tour_blocks(text):
            for k, command in enumerate(code.splitlines()):
                where = f"{doc} line {line + 1 + k}: {command.strip()}"
                if "docker.io" in command or re.search(r"\bpull\s+(?!127\.|localhost)[a-z]", command):
                    problems.append(f"may reach a registry off this machine: {where}")
                if re.search(r"(^|[;&|(]\s*)cd(\s|$)", command.strip()):
                    problems.append(f"changes directory: {where}")
                if "/tmp/" in command:
                    problems.append(f"writes to a fixed /tmp path: {where}")
    assert not problems, "\n".join(problems)
    assert SECTIONS


def _param(doc: str, title: str, script: str):
    """The cgroup lab reads v1 or v2 files by hand: it runs in the cgroup v2 VM too (scripts/vm-test)."""
    marks = [pytest.mark.v2] if os.path.basename(doc).startswith("04-") else []
    return pytest.param(doc, title, script, marks=marks, id=f"{os.path.basename(doc)[:2]}-{slug(title)}")


@pytest.mark.parametrize("doc,title,script", [_param(*s) for s in SECTIONS])
def test_lab_section(doc, title, script, engine, tmp_path):
    run_section(doc, title, script, engine, tmp_path)
