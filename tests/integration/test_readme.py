"""The README's tour, run as a reader runs it (tests/tour.py says how: every ```sh block, section
by section, in a fresh bash on a fresh root inside the test's network namespace, leaving nothing
behind)."""
import os
import re

import pytest

from tour import fenced_blocks, run_section, slug, tour_blocks, tour_sections

pytestmark = pytest.mark.root

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(REPO, "README.md")

with open(README) as f:
    SECTIONS = tour_sections(f.read())


def test_the_tour_is_found_and_stays_offline_and_in_its_scratch_directory():
    """What running would catch late or never: a block that pulls from a registry other than the
    one the tour starts on loopback, changes directory (later sections run paths relative to the
    clone), writes to a fixed /tmp path, or needs a terminal; and a mark with no reason."""
    with open(README) as f:
        text = f.read()
    titles = [t for t, _ in SECTIONS]
    assert len(titles) >= 5 and len(set(titles)) == len(titles), titles
    for _, _, lang, marked, _, line in fenced_blocks(text):
        if marked:
            reason = text.splitlines()[line - 2].strip()
            assert re.match(r"<!-- not a tour block: \S.* -->$", reason), f"README.md line {line - 1}: {reason}"
    problems = []
    for _, section, code, line in tour_blocks(text):
        for k, command in enumerate(code.splitlines()):
            where = f"README.md line {line + 1 + k} ({section}): {command.strip()}"
            pulled = re.findall(r"\bhull\s+(?:image\s+)?pull\s+(?:-\S+\s+)*(\S+)", command)
            if "docker.io" in command or any(not re.match(r"(localhost|127\.)", ref) for ref in pulled):
                problems.append(f"reaches a registry off this machine: {where}")
            if re.search(r"(^|[;&|(]\s*)cd(\s|$)", command.strip()):
                problems.append(f"changes directory: {where}")
            if "/tmp/" in command:
                problems.append(f"writes to a fixed /tmp path (use $tour): {where}")
            if re.search(r"\bhull(-oci)?\b.*\s-[a-z]*(it|ti)[a-z]*(\s|$)|\bhull\s+attach\b", command):
                problems.append(f"needs a terminal: {where}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("title,script", SECTIONS, ids=[slug(t) for t, _ in SECTIONS])
def test_tour_section(title, script, engine, tmp_path):
    run_section("README.md", title, script, engine, tmp_path)


def test_the_code_tours_name_modules_and_functions_that_exist():
    """The README's tables that follow a command to execve point into runtime/: each module named
    exists, and each `module` `function` pair names a def or class in it."""
    with open(README) as f:
        text = f.read()
    problems = [ref for ref in sorted(set(re.findall(r"\bruntime/[\w/]+\.py\b", text)))
                if not os.path.exists(os.path.join(REPO, ref))]
    for path, func in re.findall(r"`(runtime/[\w/]+\.py)` `(\w+)`", text):
        with open(os.path.join(REPO, path)) as f:
            if not re.search(rf"^\s*(def|class) {func}\b", f.read(), re.M):
                problems.append(f"{path} has no {func}")
    assert not problems, problems
