"""The Dockerfile grammar, as docker's parser reads it:

    # syntax=...          parser directives: only at the very top (syntax is accepted and ignored)
    # escape=`            the line-continuation and escape character (default \\)
    # comment             a line of its own; also inside a continued instruction
    RUN apt-get \\         continuation: the escape character ends the line
        install x
    CMD ["a", "b"]        JSON form (exec form) where the instruction has one, else shell form

and the variable substitution docker applies to some instructions' arguments ($VAR, ${VAR},
${VAR:-default}, ${VAR:+alternative}, quotes and escapes as its shell lexer treats them).
Errors name the file and line: `Dockerfile:7: unknown instruction: RUNN`.
"""
from runtime import fastjson as json
from runtime.errors import InvalidArgument

INSTRUCTIONS = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
                "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")
# instructions whose arguments the builder substitutes (docker's list; RUN, CMD, ENTRYPOINT are
# left to the shell in the container)
SUBSTITUTED = ("ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR", "ARG")
JSON_FORMS = ("RUN", "CMD", "ENTRYPOINT", "SHELL", "VOLUME", "COPY", "ADD", "HEALTHCHECK")


class DockerfileError(InvalidArgument):
    pass


class Instruction:
    """One instruction: name (upper case), the raw argument text, flags (--from=...), its line and
    the original text (for history and errors)."""

    def __init__(self, name: str, args: str, line: int, original: str, flags: dict):
        self.name, self.args, self.line, self.original, self.flags = name, args, line, original, flags

    def json_args(self):
        """The arguments as a JSON list of strings, or None when they are not one (shell form)."""
        text = self.args.strip()
        if not text.startswith("["):
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        return None

    def __repr__(self):
        return f"Instruction({self.name} {self.args!r} @{self.line})"


def parse(text: str, name: str = "Dockerfile") -> tuple:
    """(instructions, escape character)."""
    lines = text.split("\n")
    escape = "\\"
    i = 0
    # parser directives: lines "# key=value" at the very top
    seen = set()
    while i < len(lines):
        s = lines[i].strip()
        if not s.startswith("#") or "=" not in s:
            break
        key, _, value = s[1:].partition("=")
        key = key.strip().lower()
        if key not in ("escape", "syntax", "check") or key in seen:
            break
        seen.add(key)
        if key == "escape":
            value = value.strip()
            if value not in ("\\", "`"):
                raise DockerfileError(f"{name}:{i + 1}: invalid escape token {value!r} (\\ or `)")
            escape = value
        i += 1
    out = []
    while i < len(lines):
        start = i
        text = lines[i].rstrip()
        i += 1
        if not text.strip() or text.strip().startswith("#"):
            continue
        # an escape character at the end continues the instruction on the next line; comments
        # and empty lines in between are dropped, as docker's parser does
        while _continues(text, escape):
            text = text.rstrip()[:-1]
            while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("#")):
                i += 1
            if i >= len(lines):
                break
            text += lines[i].rstrip()
            i += 1
        word, _, rest = text.strip().partition(" ")
        upper = word.upper()
        if upper not in INSTRUCTIONS:
            raise DockerfileError(f"{name}:{start + 1}: unknown instruction: {word}")
        flags, rest = _flags(rest.strip(), upper, name, start + 1)
        out.append(Instruction(upper, rest, start + 1, text.strip(), flags))
    if not out:
        raise DockerfileError(f"{name}: the file has no instructions")
    return out, escape


def _continues(line: str, escape: str) -> bool:
    s = line.rstrip()
    if not s.endswith(escape):
        return False
    n = len(s) - len(s.rstrip(escape))  # an even count of escapes escapes itself
    return n % 2 == 1


_FLAGS = {"FROM": ("platform",), "COPY": ("from", "chown", "chmod", "link"), "ADD": ("chown", "chmod", "link",
                                                                                      "checksum"),
          "RUN": ("network", "mount", "security"), "HEALTHCHECK": ("interval", "timeout", "start-period",
                                                                   "start-interval", "retries")}


def _flags(rest: str, instruction: str, name: str, line: int) -> tuple:
    """--key=value flags at the start of the arguments (COPY --from=x, FROM --platform=...)."""
    flags = {}
    while rest.startswith("--"):
        word, _, after = rest.partition(" ")
        key, eq, value = word[2:].partition("=")
        if key not in _FLAGS.get(instruction, ()):
            raise DockerfileError(f"{name}:{line}: unknown flag: --{key} for {instruction}")
        flags[key] = value if eq else "true"
        rest = after.strip()
    return flags, rest


# -- substitution -------------------------------------------------------------------------------------

def substitute(text: str, env: dict, escape: str = "\\", keep_quotes: bool = True) -> str:
    """$VAR, ${VAR}, ${VAR:-default}, ${VAR:+alternative} (and -, + without the colon), as docker's
    shell lexer does: nothing inside single quotes, the escape character escapes the next one.
    keep_quotes=False removes the quotes (what a word of ENV or LABEL needs)."""
    out, i, quote = [], 0, None
    while i < len(text):
        c = text[i]
        if c == escape and quote != "'":
            if i + 1 < len(text):
                nxt = text[i + 1]
                if quote == '"' and nxt not in ('"', "$", escape):
                    out.append(c)  # inside double quotes only these are escaped
                elif keep_quotes and nxt not in ("$",):
                    out.append(c)
                out.append(nxt)
                i += 2
                continue
            out.append(c)
            i += 1
            continue
        if c in ("'", '"') and (quote is None or quote == c):
            quote = None if quote == c else c
            if keep_quotes:
                out.append(c)
            i += 1
            continue
        if c == "$" and quote != "'":
            value, i = _variable(text, i, env, escape)
            out.append(value)
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _variable(text: str, i: int, env: dict, escape: str) -> tuple:
    """The value of the variable reference at text[i] ('$'), and the index after it."""
    if i + 1 < len(text) and text[i + 1] == "{":
        end = _closing(text, i + 2)
        if end < 0:
            raise DockerfileError(f"missing '}}' in {text!r}")
        body = text[i + 2:end]
        name, op, word = body, "", ""
        for candidate in (":-", ":+", "-", "+"):
            k = body.find(candidate)
            if k > 0 and all(ch.isalnum() or ch == "_" for ch in body[:k]):
                name, op, word = body[:k], candidate, body[k + len(candidate):]
                break
        if not name or not all(ch.isalnum() or ch == "_" for ch in name):
            raise DockerfileError(f"bad substitution in {text!r}")
        value = env.get(name)
        word = substitute(word, env, escape, keep_quotes=False) if op else ""
        if op == ":-":
            value = value if value else word
        elif op == "-":
            value = value if value is not None else word
        elif op == ":+":
            value = word if value else ""
        elif op == "+":
            value = word if value is not None else ""
        return value or "", end + 1
    j = i + 1
    while j < len(text) and (text[j].isalnum() or text[j] == "_"):
        j += 1
    if j == i + 1:
        return "$", i + 1
    return env.get(text[i + 1:j], ""), j


def _closing(text: str, i: int) -> int:
    depth = 1
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def words(text: str, env: dict, escape: str = "\\") -> list:
    """Whitespace-separated words with quotes and escapes handled and variables substituted
    (ENV's and LABEL's KEY=VALUE pairs, EXPOSE's ports, VOLUME's paths in shell form)."""
    out, cur, i, quote, started = [], [], 0, None, False
    while i < len(text):
        c = text[i]
        if c == escape and quote != "'" and i + 1 < len(text):
            cur.append(text[i + 1])
            i += 2
            started = True
            continue
        if c in ("'", '"') and (quote is None or quote == c):
            quote = None if quote == c else c
            i += 1
            started = True
            continue
        if c == "$" and quote != "'":
            value, i = _variable(text, i, env, escape)
            cur.append(value)
            started = True
            continue
        if c.isspace() and quote is None:
            if started:
                out.append("".join(cur))
                cur, started = [], False
            i += 1
            continue
        cur.append(c)
        started = True
        i += 1
    if quote:
        raise DockerfileError(f"unterminated quote in {text!r}")
    if started:
        out.append("".join(cur))
    return out


def key_values(inst: Instruction, env: dict, escape: str) -> list:
    """ENV/LABEL arguments: KEY=VALUE pairs, or the old form `ENV KEY the value`."""
    ws = words(inst.args, env, escape)
    if not ws:
        raise DockerfileError(f"line {inst.line}: {inst.name} needs arguments")
    if "=" not in ws[0]:
        if inst.name != "ENV" or len(ws) < 2:
            raise DockerfileError(f"line {inst.line}: {inst.name} needs KEY=VALUE")
        key, _, rest = inst.args.strip().partition(" ")
        return [(key, substitute(rest.strip(), env, escape, keep_quotes=False))]
    pairs = []
    for w in ws:
        key, eq, value = w.partition("=")
        if not eq or not key:
            raise DockerfileError(f"line {inst.line}: {inst.name}: {w!r} is not KEY=VALUE")
        pairs.append((key, value))
    return pairs
