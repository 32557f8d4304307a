"""--format: the subset of Go's text/template that docker's --format uses, once, for every verb.

    {{.Field.Sub}}  {{json .X}}  {{index .X "key"}}  {{.X | upper}}  {{printf "%s-%d" .A .B}}
    {{range .Xs}}...{{end}}  {{range $i, $v := .Xs}}  {{if .X}}...{{else if .Y}}...{{else}}...{{end}}
    {{with .X}}...{{end}}  {{$v := .X}}  {{- trim -}}  {{/* comment */}}

Functions: docker's (json, join, split, upper, lower, title, truncate, pad) and Go's builtins
(index, len, printf, print, println, eq, ne, lt, le, gt, ge, and, or, not). `table` is a prefix,
not a function: rows are rendered, the same template runs over the header names, and a tab writer
aligns it all (docker/cli's formatter: min width 10, padding 3). A bare `json` means `{{json .}}`.

Values are plain Python: dicts (JSON maps; a missing key prints "<no value>", as Go's maps do),
lists, strings, numbers, booleans, None. A `Struct` (a dict of docker's row fields) refuses unknown
fields, as docker's typed contexts do.
"""
from runtime import fastjson as json
from runtime.errors import InvalidArgument


class Struct(dict):
    """A row with a fixed set of fields: {{.Nope}} is an error, not "<no value>"."""
    type_name = "context"


class Header(dict):
    """The names a `table` header prints; a field without one prints its name in capitals."""


class TemplateError(InvalidArgument):
    pass


# -- lexing: text and {{ actions }} -------------------------------------------------------------------

def _split(src: str) -> list:
    """[("text", s) | ("action", s)] with {{- and -}} trimming applied."""
    out, i = [], 0
    while True:
        j = src.find("{{", i)
        if j < 0:
            out.append(("text", src[i:]))
            return out
        text = src[i:j]
        k = src.find("}}", j)
        if k < 0:
            raise TemplateError(f"template: unclosed action in {src!r}")
        body = src[j + 2:k]
        if body.startswith("- "):
            text, body = text.rstrip(" \t\r\n"), body[1:]
        i = k + 2
        if body.endswith(" -"):
            body = body[:-1]
            while i < len(src) and src[i] in " \t\r\n":
                i += 1
        out.append(("text", text))
        out.append(("action", body.strip()))


def _tokens(s: str) -> list:
    """Words of an action: strings, ( ) |, :=, and bare words (.A.B, $x, names, numbers)."""
    toks, i = [], 0
    while i < len(s):
        c = s[i]
        if c in " \t\n":
            i += 1
        elif c in "()|,":
            toks.append(c)
            i += 1
        elif c == ":" and s[i:i + 2] == ":=":
            toks.append(":=")
            i += 2
        elif c == "=" and (not toks or toks[-1] != ":="):
            toks.append("=")
            i += 1
        elif c in "\"`":
            j = i + 1
            while j < len(s) and s[j] != c:
                j += 2 if s[j] == "\\" and c == '"' else 1
            if j >= len(s):
                raise TemplateError(f"template: unterminated string in {{{{{s}}}}}")
            raw = s[i:j + 1]
            toks.append(("str", json.loads(raw) if c == '"' else raw[1:-1]))
            i = j + 1
        else:
            j = i
            while j < len(s) and s[j] not in " \t\n()|,\"`" and s[j:j + 2] != ":=":
                j += 1
            toks.append(s[i:j])
            i = j
    return toks


# -- parsing into a tree --------------------------------------------------------------------------------

class _Node:
    def __init__(self, kind, **kw):
        self.kind = kind
        self.__dict__.update(kw)


def parse(src: str) -> list:
    """The template as a list of nodes; TemplateError on a malformed one."""
    parts = _split(src)
    nodes, rest = _parse_list(parts, 0, src)
    if rest != len(parts):
        raise TemplateError(f"template: unexpected {{{{{parts[rest][1]}}}}} in {src!r}")
    return nodes


def _parse_list(parts, i, src, stops=()):
    nodes = []
    while i < len(parts):
        kind, body = parts[i]
        if kind == "text":
            if body:
                nodes.append(_Node("text", text=body))
            i += 1
            continue
        word = body.split(None, 1)[0] if body else ""
        if body.startswith("/*"):
            i += 1
            continue
        if word in stops or (word == "else" and "else" in stops):
            return nodes, i
        if word in ("if", "range", "with"):
            node, i = _parse_block(parts, i, src, word, body[len(word):].strip())
            nodes.append(node)
            continue
        if word in ("end", "else"):
            raise TemplateError(f"template: unexpected {{{{{body}}}}} in {src!r}")
        nodes.append(_Node("action", pipe=_parse_pipe(_tokens(body), src)))
        i += 1
    return nodes, i


def _parse_block(parts, i, src, word, head):
    toks = _tokens(head)
    declare = []
    if word == "range" and ":=" in toks:
        k = toks.index(":=")
        declare = [t for t in toks[:k] if t != ","]
        toks = toks[k + 1:]
    pipe = _parse_pipe(toks, src)
    body, i = _parse_list(parts, i + 1, src, stops=("end", "else"))
    otherwise = []
    if i < len(parts) and parts[i][1].split(None, 1)[0] == "else":
        rest = parts[i][1][len("else"):].strip()
        if rest.startswith("if ") or rest.startswith("with "):  # else if: a nested block sharing our end
            inner_word = rest.split(None, 1)[0]
            inner, i = _parse_block(parts, i, src, inner_word, rest[len(inner_word):].strip())
            return _Node(word, pipe=pipe, body=body, otherwise=[inner], declare=declare), i
        otherwise, i = _parse_list(parts, i + 1, src, stops=("end",))
    if i >= len(parts) or parts[i][1] != "end":
        raise TemplateError(f"template: {{{{{word}}}}} without {{{{end}}}} in {src!r}")
    return _Node(word, pipe=pipe, body=body, otherwise=otherwise, declare=declare), i + 1


def _parse_pipe(toks, src):
    """A pipeline: optional `$x :=`, then commands separated by |."""
    declare = None
    if len(toks) >= 2 and toks[1] in (":=", "=") and isinstance(toks[0], str) and toks[0].startswith("$"):
        declare, toks = toks[0], toks[2:]
    commands, cur, depth = [], [], 0
    for t in toks:
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        if t == "|" and depth == 0:
            commands.append(cur)
            cur = []
        else:
            cur.append(t)
    commands.append(cur)
    if not toks or any(not c for c in commands):
        raise TemplateError(f"template: missing value in {src!r}")
    return {"declare": declare, "commands": [_parse_args(c, src) for c in commands]}


def _parse_args(toks, src):
    """A command: a list of operands; a parenthesized group is a nested pipeline."""
    args, i = [], 0
    while i < len(toks):
        t = toks[i]
        if t == "(":
            depth, j = 1, i + 1
            while j < len(toks) and depth:
                depth += {"(": 1, ")": -1}.get(toks[j] if isinstance(toks[j], str) else "", 0)
                j += 1
            if depth:
                raise TemplateError(f"template: unclosed ( in {src!r}")
            args.append(("pipe", _parse_pipe(toks[i + 1:j - 1], src)))
            i = j
        elif t == ")":
            raise TemplateError(f"template: unexpected ) in {src!r}")
        else:
            args.append(t)
            i += 1
    return args


# -- execution ------------------------------------------------------------------------------------------

def _truthy(v) -> bool:
    return bool(v) and v != 0


def go_str(v) -> str:
    """How Go's fmt prints a value with %v."""
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_str(x) if x is not None else "<nil>" for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_str(v[k]) if v[k] is not None else '<nil>'}" for k in sorted(v)) + "]"
    return str(v)


def _printf(fmt: str, *args) -> str:
    """Go's printf for the verbs people use in --format: %s %d %v %q %t %x %f, widths and -."""
    out, i, n = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        j = i + 1
        while j < len(fmt) and fmt[j] in "-+ 0#.123456789":
            j += 1
        if j >= len(fmt):
            out.append(fmt[i:])
            break
        verb, spec = fmt[j], fmt[i + 1:j]
        i = j + 1
        if verb == "%":
            out.append("%")
            continue
        arg = args[n] if n < len(args) else None
        n += 1
        if verb in "sv":
            out.append(("%" + spec + "s") % go_str(arg))
        elif verb == "q":
            out.append(("%" + spec + "s") % json.dumps(go_str(arg)))
        elif verb == "t":
            out.append(go_str(bool(arg)))
        elif verb in "dxXof":
            try:
                out.append(("%" + spec + verb) % (float(arg) if verb == "f" else int(arg)))
            except (TypeError, ValueError):
                out.append(f"%!{verb}({go_str(arg)})")
        else:
            out.append(f"%!{verb}({go_str(arg)})")
    return "".join(out)


def _truncate(*a):
    if len(a) != 2:
        raise TemplateError("template: truncate takes a string and a length")
    s, n = (a[0], a[1]) if isinstance(a[1], int) else (a[1], a[0])
    s = go_str(s)
    return s[:n] if len(s) > n else s


def _index(v, *keys):
    for k in keys:
        if isinstance(v, dict):
            v = v.get(k)
        elif isinstance(v, (list, tuple, str)):
            if not isinstance(k, int) or not -len(v) <= k < len(v):
                raise TemplateError(f"template: index out of range: {k}")
            v = v[k]
        elif v is None:
            raise TemplateError("template: index of untyped nil")
        else:
            raise TemplateError(f"template: can't index item of type {type(v).__name__}")
    return v


def _cmp(op):
    def f(a, *bs):
        if op == "eq":
            return any(a == b for b in bs)
        b = bs[0]
        try:
            return {"ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
        except TypeError:
            raise TemplateError(f"template: incompatible types for comparison: {go_str(a)} {op} {go_str(b)}") from None
    return f


def _and(*a):
    for v in a:
        if not _truthy(v):
            return v
    return a[-1]


def _or(*a):
    for v in a:
        if _truthy(v):
            return v
    return a[-1]


FUNCS = {
    "json": lambda v: json.compact(v),
    "join": lambda v, sep: sep.join(go_str(x) for x in (v or [])),
    "split": lambda s, sep: go_str(s).split(sep),
    "upper": lambda s: go_str(s).upper(),
    "lower": lambda s: go_str(s).lower(),
    "title": lambda s: go_str(s).title(),
    "truncate": _truncate,
    "pad": lambda s, left, right: " " * left + go_str(s) + " " * right,
    "len": lambda v: len(v) if v is not None else 0,
    "index": _index,
    "printf": _printf,
    "print": lambda *a: "".join(go_str(x) for x in a),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "eq": _cmp("eq"), "ne": _cmp("ne"), "lt": _cmp("lt"), "le": _cmp("le"), "gt": _cmp("gt"), "ge": _cmp("ge"),
    "and": _and, "or": _or, "not": lambda v: not _truthy(v),
}


def _field(v, names: list, path: str):
    for name in names:
        if isinstance(v, Header):
            return v.get(name, name.upper())
        if isinstance(v, Struct):
            if name not in v:
                raise TemplateError(f"template: executing at <{path}>: can't evaluate field {name} "
                                    f"in type {v.type_name}")
            v = v[name]
        elif isinstance(v, dict):
            v = v.get(name)
        elif v is None:
            return None
        else:
            raise TemplateError(f"template: executing at <{path}>: can't evaluate field {name} "
                                f"in type {type(v).__name__}")
    return v


class _Scope:
    def __init__(self, dot, variables):
        self.dot, self.vars = dot, variables


def _operand(tok, scope):
    if isinstance(tok, tuple):
        if tok[0] == "str":
            return tok[1]
        return _run_pipe(tok[1], scope)
    if tok.startswith("."):
        if tok == ".":
            return scope.dot
        return _field(scope.dot, tok[1:].split("."), tok)
    if tok.startswith("$"):
        name, _, rest = tok.partition(".")
        if name not in scope.vars:
            raise TemplateError(f"template: undefined variable {name!r}")
        v = scope.vars[name]
        return _field(v, rest.split("."), tok) if rest else v
    if tok in ("true", "false"):
        return tok == "true"
    if tok == "nil":
        return None
    try:
        return int(tok)
    except ValueError:
        pass
    try:
        return float(tok)
    except ValueError:
        pass
    raise TemplateError(f"template: function {tok!r} not defined")


def _run_command(args, scope, piped, has_piped):
    head = args[0]
    if isinstance(head, str) and head in FUNCS:
        values = [_operand(a, scope) for a in args[1:]] + ([piped] if has_piped else [])
        try:
            return FUNCS[head](*values)
        except TypeError:
            raise TemplateError(f"template: wrong number of arguments for {head}") from None
    if isinstance(head, str) and head[:1].isalpha() and head not in ("true", "false", "nil"):
        raise TemplateError(f"template: function {head!r} not defined")
    if len(args) > 1 or has_piped:
        raise TemplateError(f"template: can't give argument to non-function {go_str(head)}")
    return _operand(head, scope)


def _run_pipe(pipe, scope):
    value, has = None, False
    for cmd in pipe["commands"]:
        value, has = _run_command(cmd, scope, value, has), True
    if pipe["declare"]:
        scope.vars[pipe["declare"]] = value
        return ""
    return value


def _execute(nodes, scope, out):
    for n in nodes:
        if n.kind == "text":
            out.append(n.text)
        elif n.kind == "action":
            v = _run_pipe(n.pipe, scope)
            if not n.pipe["declare"]:
                out.append(go_str(v))
        elif n.kind == "if":
            _execute(n.body if _truthy(_run_pipe(n.pipe, scope)) else n.otherwise, scope, out)
        elif n.kind == "with":
            v = _run_pipe(n.pipe, scope)
            if _truthy(v):
                _execute(n.body, _Scope(v, scope.vars), out)
            else:
                _execute(n.otherwise, scope, out)
        elif n.kind == "range":
            v = _run_pipe(n.pipe, scope)
            items = sorted(v.items()) if isinstance(v, dict) else list(enumerate(v or []))
            if not items:
                _execute(n.otherwise, scope, out)
            for key, item in items:
                variables = dict(scope.vars)
                if len(n.declare) == 2:
                    variables[n.declare[0]], variables[n.declare[1]] = key, item
                elif n.declare:
                    variables[n.declare[0]] = item
                _execute(n.body, _Scope(item, variables), out)


def render(src: str, data) -> str:
    """Execute a template (or its parsed nodes) over data."""
    nodes = parse(src) if isinstance(src, str) else src
    out = []
    _execute(nodes, _Scope(data, {"$": data}), out)
    return "".join(out)


# -- docker's --format conventions -------------------------------------------------------------------

def expand(fmt: str) -> str:
    """docker's shorthands: `json` alone is {{json .}}; `\\t` and `\\n` are the characters."""
    if fmt.strip() == "json":
        return "{{json .}}"
    return fmt.replace("\\t", "\t").replace("\\n", "\n")


def format_rows(fmt: str, rows: list, headers: dict | None = None) -> str:
    """Each row through the template, a line each; with the `table` prefix a header line (the
    template over `headers`) and tab alignment."""
    fmt = expand(fmt)
    table = fmt.startswith("table")
    if table:
        fmt = fmt[len("table"):].lstrip(" ")
    nodes = parse(fmt)
    lines = [render(nodes, row) for row in rows]
    if not table:
        return "".join(line + "\n" for line in lines)
    return tabwrite([render(nodes, Header(headers or {}))] + lines)


def tabwrite(lines: list, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter as docker sets it up: tab-separated cells padded to their column's
    widest cell + padding (at least minwidth); a line's last cell is not aligned."""
    rows = [line.split("\t") for line in "\n".join(lines).split("\n")]
    widths = {}
    for cells in rows:
        for i, cell in enumerate(cells[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell) + padding, minwidth)
    out = []
    for cells in rows:
        out.append("".join(c.ljust(widths[i]) for i, c in enumerate(cells[:-1])) + cells[-1])
    return "\n".join(out) + "\n"
