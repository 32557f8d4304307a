"""The Dockerfile grammar and docker's variable substitution (runtime/engine/build/dockerfile.py)."""
import pytest

from runtime.engine.build import dockerfile as df


def test_instructions_continuations_comments_and_directives():
    text = "# syntax=docker/dockerfile:1\n# escape=\\\\\nFROM busybox AS base\n# a comment\nrun echo a \\\\\n" \
           "  # inside\n  && echo b\n\nCOPY --from=base --chown=1:2 a b /dst/\n"
    insts, escape = df.parse(text.replace("\\\\", "\\"))
    assert escape == "\\"
    assert [(i.name, i.line) for i in insts] == [("FROM", 3), ("RUN", 5), ("COPY", 9)]
    assert insts[1].args == "echo a   && echo b"
    assert insts[2].flags == {"from": "base", "chown": "1:2"} and insts[2].args == "a b /dst/"


def test_backtick_escape():
    insts, escape = df.parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n")
    assert escape == "`" and insts[1].args == "dir c:\\   && echo"


@pytest.mark.parametrize("text, words", [
    ("FROM x\nRUNN echo", "Dockerfile:2: unknown instruction: RUNN"),
    ("FROM x\nCOPY --bogus=1 a b", "Dockerfile:2: unknown flag: --bogus"),
    ("# escape=x\nFROM y", "invalid escape token"),
    ("\n\n", "no instructions"),
])
def test_errors_name_the_line(text, words):
    with pytest.raises(df.DockerfileError, match=words):
        df.parse(text)


def test_json_and_shell_forms():
    insts, _ = df.parse('FROM x\nCMD ["a", "b c"]\nCMD a b\nRUN [not json')
    assert insts[1].json_args() == ["a", "b c"] and insts[2].json_args() is None and insts[3].json_args() is None


ENV = {"A": "1", "EMPTY": "", "P": "/usr/bin"}


@pytest.mark.parametrize("text, out", [
    ("$A ${A} x${A}y", "1 1 x1y"),
    ("${NOPE:-dflt} ${EMPTY:-dflt} ${EMPTY-set}", "dflt dflt "),
    ("${A:+alt} ${NOPE:+alt}", "alt "),
    ("'$A' \"$A\" \\$A", "'$A' \"1\" $A"),
    ("${P}:/bin", "/usr/bin:/bin"),
    ("$", "$"),
])
def test_substitution(text, out):
    assert df.substitute(text, ENV) == out


def test_words_and_key_values():
    assert df.words('a "b c" \'$A\' $A', ENV) == ["a", "b c", "$A", "1"]
    inst = df.parse('FROM x\nENV K1=v1 K2="two words" K3=$A')[0][1]
    assert df.key_values(inst, ENV, "\\") == [("K1", "v1"), ("K2", "two words"), ("K3", "1")]
    old = df.parse("FROM x\nENV KEY the value $A")[0][1]
    assert df.key_values(old, ENV, "\\") == [("KEY", "the value 1")]


@pytest.mark.parametrize("patterns, path, ignored", [
    (["*.md"], "README.md", True), (["*.md"], "sub/x.md", False), (["**/*.md"], "sub/x.md", True),
    (["docs"], "docs/a/b.txt", True), (["docs", "!docs/keep.txt"], "docs/keep.txt", False),
    (["docs", "!docs/keep.txt"], "docs/other.txt", True), (["a?c"], "abc", True), (["a?c"], "a/c", False),
    (["**"], "Dockerfile", True), (["*", "!src"], "src/main.c", False), (["/tmp/*"], "tmp/x", True),
    (["[ab].txt"], "b.txt", True), (["node_modules/**"], "node_modules/x/y", True),
])
def test_dockerignore(patterns, path, ignored):
    from runtime.engine.build.context import Ignore
    assert Ignore(patterns).ignored(path) is ignored
