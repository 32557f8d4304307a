"""--format: the Go-template subset (runtime/cli/template.py), checked against what Go's
text/template and docker print for the same templates."""
import pytest

from runtime.cli import template as t

ROW = t.Struct({"Repository": "busybox", "Tag": "latest", "ID": "0123456789ab", "Size": "4.26MB",
                "Labels": {"b": "2", "a": "1"}, "Names": ["x", "y"], "N": 3, "Empty": ""})


@pytest.mark.parametrize("src, out", [
    ("{{.Repository}}:{{.Tag}}", "busybox:latest"),
    ("{{json .Labels}}", '{"b":"2","a":"1"}'),
    ("{{.Labels}}", "map[a:1 b:2]"),
    ("{{index .Labels \"a\"}}", "1"),
    ("{{.Labels.zz}}", "<no value>"),
    ("{{range .Names}}<{{.}}>{{end}}", "<x><y>"),
    ("{{range $i, $n := .Names}}{{$i}}={{$n}} {{end}}", "0=x 1=y "),
    ("{{range .Labels.none}}x{{else}}none{{end}}", "none"),
    ("{{if .Empty}}yes{{else if .N}}n={{.N}}{{else}}no{{end}}", "n=3"),
    ("{{if and .N (eq .Tag \"latest\")}}ok{{end}}", "ok"),
    ("{{if not .Empty}}empty{{end}}", "empty"),
    ("{{.Repository | upper}} {{lower \"AB\"}} {{title \"ab cd\"}}", "BUSYBOX ab Ab Cd"),
    ("{{join .Names \",\"}}", "x,y"),
    ("{{truncate .ID 4}}", "0123"),
    ("{{printf \"%s-%5d|%-4s|\" .Tag .N \"x\"}}", "latest-    3|x   |"),
    ("{{len .Names}}", "2"),
    ("{{with .Labels}}{{.a}}{{end}}", "1"),
    ("a {{- \" b \" -}} c", "a b c"),
    ("{{/* note */}}x", "x"),
    ("{{$r := .Repository}}{{$r}}", "busybox"),
    ("{{split \"a:b\" \":\"}}", "[a b]"),
])
def test_render(src, out):
    assert t.render(src, ROW) == out


@pytest.mark.parametrize("src, words", [
    ("{{.Nope}}", "can't evaluate field Nope"),
    ("{{.Repository", "unclosed action"),
    ("{{if .N}}x", "without {{end}}"),
    ("{{end}}", "unexpected"),
    ("{{bogus .N}}", "function 'bogus' not defined"),
    ("{{index .Names 5}}", "index out of range"),
])
def test_errors(src, words):
    with pytest.raises(t.TemplateError, match=words.replace("(", r"\(").replace("{", r"\{").replace("}", r"\}")):
        t.render(src, ROW)


def test_table_aligns_like_docker():
    rows = [t.Struct({"Repository": "busybox", "Tag": "latest"}), t.Struct({"Repository": "localhost:5000/a/b", "Tag": "1"})]
    out = t.format_rows("table {{.Repository}}\\t{{.Tag}}", rows, {"Repository": "REPOSITORY"})
    assert out == ("REPOSITORY           TAG\n"
                   "busybox              latest\n"
                   "localhost:5000/a/b   1\n")


def test_json_shorthand_and_escapes():
    assert t.format_rows("json", [t.Struct({"A": 1, "B": "<é>"})]) == '{"A":1,"B":"<é>"}\n'
    assert t.format_rows("{{.A}}\\t{{.B}}", [t.Struct({"A": 1, "B": "x"})]) == "1\tx\n"
