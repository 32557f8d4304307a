"""A small command-line parser in runc's style: `prog [global flags] VERB [flags] ARGS...`.

argparse would do, but it costs ~3 ms to import and engines start hull-oci 3-4 times per container.
Flags may be written --name, -name (Go style) or a one-letter alias; values as `--name V` or
`--name=V`. Boolean flags take no value.
"""
from runtime.errors import InvalidArgument


class FlagError(InvalidArgument):
    """A flag or its value is wrong: docker's CLI exits 125 for it whatever the verb."""
    flag_error = True


class UsageError(InvalidArgument):
    """Too few or too many arguments, an unknown command: docker's CLI exits 1."""
    exit_code = 1


class Flag:
    def __init__(self, name: str, short: str = "", value: bool = False, default=None, help: str = "",
                 kind=str, many: bool = False):
        """many: the flag may repeat; its value is the list of every occurrence (None if absent)."""
        self.name, self.short, self.value, self.help, self.kind, self.many = name, short, value, help, kind, many
        self.default = default if value else False

    @property
    def key(self) -> str:
        return self.name.replace("-", "_")


LISTS = ("CONTAINER...", "IMAGE...", "NETWORK...", "VOLUME...", "NAME...")


class Verb:
    def __init__(self, name: str, help: str, flags=(), args=(), optional=(), rest=False, rest_name="COMMAND..."):
        """rest: the positionals after `args` are kept (as .command), shown as rest_name in usage.
        A rest that is a command (run IMAGE CMD..., exec ID CMD...) ends the flags at the first
        positional; a rest that is a list of names (stop CONTAINER...) lets flags come anywhere,
        as docker's CLI does (`hull stop web -t 1`)."""
        self.name, self.help, self.flags = name, help, list(flags)
        self.args, self.optional, self.rest, self.rest_name = list(args), list(optional), rest, rest_name
        self.command = rest and rest_name not in LISTS


class Parsed:
    """Attributes: every flag's key, every positional's name, `verb`."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def _parse_flags(argv: list, flags: list, out: dict, stop_at_positional: bool) -> list:
    """Consume flags from the front of argv into out; return what is left."""
    by_name = {}
    for f in flags:
        by_name[f.name] = f
        if f.short:
            by_name[f.short] = f
        out.setdefault(f.key, f.default)
    rest = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i + 1:])
            break
        if not arg.startswith("-") or arg == "-":
            if stop_at_positional:
                rest.extend(argv[i:])
                break
            rest.append(arg)
            i += 1
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        f = by_name.get(name)
        if f is None and not arg.startswith("--") and len(name) > 1 and not eq:
            argv = argv[:i] + _bundle(arg, by_name) + argv[i + 1:]  # -it, -dit, -p8080:80
            continue
        if f is None:
            raise FlagError(f"flag provided but not defined: {arg}")
        if f.value:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise FlagError(f"flag needs an argument: {arg}")
                value = argv[i]
            try:
                out[f.key] = (out[f.key] or []) + [f.kind(value)] if f.many else f.kind(value)
            except ValueError:
                raise FlagError(f"invalid value {value!r} for flag {arg}") from None
        else:
            out[f.key] = value.lower() not in ("false", "0") if eq else True
        i += 1
    return rest


def _bundle(arg: str, by_name: dict) -> list:
    """POSIX-style bundled short flags, as docker takes them: -it is -i -t; a flag that takes a
    value ends the bundle, the rest being its value (-dp8080:80 is -d -p 8080:80)."""
    out = []
    for j, ch in enumerate(arg[1:]):
        f = by_name.get(ch)
        if f is None or f.short != ch:
            raise FlagError(f"unknown shorthand flag: {ch!r} in {arg}")
        out.append("-" + ch)
        if f.value:
            if arg[j + 2:]:
                out.append(arg[j + 2:])
            break
    return out


def _asks_help(argv: list, verb: Verb) -> bool:
    """--help (or -h, unless the verb has its own -h) among the verb's flags; for a verb with a
    command after its positionals (run IMAGE CMD...), not among the command's own words."""
    takes_value = {f"--{f.name}" for f in verb.flags if f.value} | {f"-{f.short}" for f in verb.flags if f.value}
    own_h = any(f.short == "h" for f in verb.flags)
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--help" or (a == "-h" and not own_h):
            return True
        if a == "--" or (verb.command and not a.startswith("-")):
            return False
        i += 2 if a in takes_value else 1
    return False


def parse(argv: list, global_flags: list, verbs: dict, typed: str | None = None) -> Parsed:
    """typed: what the user typed for the verb, when it is not the verb's own name (`hull image ls`
    is the verb `images`): usage lines and errors show that."""
    out = {}
    rest = _parse_flags(argv, global_flags, out, stop_at_positional=True)
    if not rest:
        return Parsed(verb=None, **out)
    verb = verbs.get(rest[0])
    if verb is None:
        raise UsageError(f"unknown command {rest[0]!r} (see --help)")
    if _asks_help(rest[1:], verb):
        return Parsed(verb="help", topic=verb, **out)
    # for a verb whose rest is a command (exec ID CMD...), flags end at the first positional
    positionals = _parse_flags(rest[1:], verb.flags, out, stop_at_positional=verb.command)
    need = len(verb.args)
    if len(positionals) < need:
        missing = " ".join(a.upper() for a in verb.args[len(positionals):])
        raise UsageError(f"{typed or verb.name}: missing {missing} (usage: {usage(verb, typed)})")
    for name, value in zip(verb.args, positionals):
        out[name] = value
    extra = positionals[need:]
    for name in verb.optional:
        out[name] = extra.pop(0) if extra else None
    if verb.rest:
        out["command"] = extra
    elif extra:
        raise UsageError(f"{typed or verb.name}: unexpected argument {extra[0]!r} "
                              f"(usage: {usage(verb, typed)})")
    return Parsed(verb=verb.name, **out)


def usage(verb: Verb, name: str | None = None) -> str:
    parts = [name or verb.name, "[flags]"] + [a.upper() for a in verb.args] + [f"[{a.upper()}]" for a in verb.optional]
    if verb.rest:
        parts.append(f"[{verb.rest_name}]")
    return " ".join(parts)


def flag_lines(flags: list) -> list:
    """One line per flag; a flag without help is an undocumented alias (run's --net), left out."""
    lines = []
    for f in flags:
        if f.help:
            names = f"--{f.name}" + (f", -{f.short}" if f.short else "") + (" VALUE" if f.value else "")
            lines.append(f"  {names:<28} {f.help}")
    return lines


def listing(title: str, pairs) -> list:
    """A help section: the title, then `  NAME  help` per (name, help), the helps in one column."""
    pairs = list(pairs)
    width = max([12] + [len(n) + 1 for n, _ in pairs])
    return [title] + [f"  {n:<{width}} {h}" for n, h in pairs]


def help_text(prog: str, description: str, global_flags: list, verbs: dict, verb: Verb | None = None,
              name: str | None = None, example: str = "") -> str:
    """The help of one verb (name: what the user typed for it; example: the lines under Example:),
    or of the whole program: every verb, then the global flags."""
    if verb is not None:
        lines = [f"usage: {prog} {usage(verb, name)}", "", verb.help, ""] + flag_lines(verb.flags)
        if example:
            lines += ["", "Example:"] + [f"  {line}" for line in example.splitlines()]
        return "\n".join(lines) + "\n"
    lines = [f"usage: {prog} [global flags] COMMAND [flags] ARGS", "", description, ""]
    lines += listing("commands:", ((v.name, v.help) for v in verbs.values()))
    lines += ["", "global flags:"] + flag_lines(global_flags)
    return "\n".join(lines) + "\n"


def group_help(prog: str, group: str, description: str, pairs) -> str:
    """A management command's help, as docker's: `hull image --help` lists image's subcommands."""
    lines = [f"Usage:  {prog} {group} COMMAND", "", description, ""] + listing("Commands:", pairs)
    lines += ["", f"Run '{prog} {group} COMMAND --help' for more information on a command."]
    return "\n".join(lines) + "\n"
