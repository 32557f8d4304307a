"""JSON through the interpreter's C accelerator (_json), without importing the json package.

`import json` pulls in re, enum and functools: about half of a hull-oci start (~5-9 ms here), and
engines start the runtime 3-4 times per container. _json's scanner and encoder are what the json
package itself uses underneath. Input that the fast path cannot take goes to json, so errors read
exactly as json's do. Modules use it as `from runtime import fastjson as json`.
"""
import _json

_WHITESPACE = " \t\n\r"


class _Options:
    """The attributes _json.make_scanner reads from its context (json.JSONDecoder's defaults)."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity


_scan = _json.make_scanner(_Options())


def _not_serializable(o):
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


# json.dumps' defaults: ensure_ascii, separators (", ", ": "), circular-reference check
_encode = _json.make_encoder({}, _not_serializable, _json.encode_basestring_ascii, None,
                             ": ", ", ", False, False, True)


# Go's encoding/json: no spaces, UTF-8 kept. html: also <, >, & and U+2028/9 escaped, Go's default
# (json.Marshal: what runc prints); docker's `json` template function turns that off. Those
# characters only occur inside strings, so escaping the text is escaping the strings.
_encode_compact = _json.make_encoder({}, _not_serializable, _json.encode_basestring, None,
                                     ":", ",", False, False, False)
_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                             "\u2029": "\\u2029"})


def compact(obj, html: bool = False) -> str:
    text = "".join(_encode_compact(obj, 0))
    return text.translate(_GO_ESCAPES) if html else text


def go_indent(obj, step: str) -> str:
    """Go's json.MarshalIndent(obj, "", step): runc's `state` (two spaces) and `features` (four)."""
    if isinstance(obj, dict) and obj:
        return "{\n" + ",\n".join(_go_lines(step, step + compact(str(k), True) + ": ", v) for k, v in obj.items()) + "\n}"
    if isinstance(obj, (list, tuple)) and obj:
        return "[\n" + ",\n".join(_go_lines(step, step, v) for v in obj) + "\n]"
    return compact(obj, True)


def _go_lines(step: str, head: str, value) -> str:
    """One member: its head, then its value indented one step more on the lines after the first."""
    return head + go_indent(value, step).replace("\n", "\n" + step)


def loads(s):
    if isinstance(s, (bytes, bytearray)):
        try:
            s = s.decode("utf-8")
        except UnicodeDecodeError:
            s = bytes(s)  # let json detect UTF-16/32 or report the error
    if isinstance(s, str):
        start = len(s) - len(s.lstrip(_WHITESPACE))
        try:
            obj, end = _scan(s, start)
        except Exception:  # StopIteration or a decode error: json says what is wrong
            obj, end = None, -1
        if end >= 0 and not s[end:].strip(_WHITESPACE):
            return obj
    import json
    return json.loads(s)


def load(f):
    return loads(f.read())


def dumps(obj, indent=None) -> str:
    if indent is None:
        return "".join(_encode(obj, 0))
    return _pretty(obj, " " * indent, "")


def dump(obj, f, indent=None) -> None:
    f.write(dumps(obj, indent))


def _pretty(o, step: str, current: str) -> str:
    """json.dumps(o, indent=len(step)) for the dicts and lists of state and specs."""
    inner = current + step
    if isinstance(o, dict) and o:
        items = (inner + dumps(str(k)) + ": " + _pretty(v, step, inner) for k, v in o.items())
        return "{\n" + ",\n".join(items) + "\n" + current + "}"
    if isinstance(o, (list, tuple)) and o:
        return "[\n" + ",\n".join(inner + _pretty(v, step, inner) for v in o) + "\n" + current + "]"
    return dumps(o)
