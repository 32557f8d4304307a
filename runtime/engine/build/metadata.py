"""The instructions that only change the image's config (no layer): ENV, LABEL, EXPOSE, CMD,
ENTRYPOINT, USER, VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER, as docker's builder
writes them into the config. Each takes the instruction, the config (changed in place), the
variables for substitution and the stage's SHELL."""
from runtime.engine.build.dockerfile import DockerfileError, key_values, substitute, words

DEFAULT_SHELL = ["/bin/sh", "-c"]


def command(inst, shell: list) -> list:
    """RUN/CMD/ENTRYPOINT's argv: the JSON form as written, the shell form through SHELL."""
    argv = inst.json_args()
    if argv is not None:
        return argv
    return list(shell) + [inst.args.strip()]


def env(inst, cfg: dict, variables: dict, escape: str) -> None:
    current = {e.split("=", 1)[0]: e for e in cfg.get("Env") or []}
    for key, value in key_values(inst, variables, escape):
        current[key] = f"{key}={value}"
        variables[key] = value  # visible to the instructions after it
    cfg["Env"] = list(current.values())


def label(inst, cfg: dict, variables: dict, escape: str) -> None:
    cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(key_values(inst, variables, escape))}


def expose(inst, cfg: dict, variables: dict, escape: str) -> None:
    ports = dict(cfg.get("ExposedPorts") or {})
    for word in words(inst.args, variables, escape):
        spec, _, proto = word.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise DockerfileError(f"line {inst.line}: invalid proto in EXPOSE {word}")
        low, _, high = spec.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise DockerfileError(f"line {inst.line}: invalid port in EXPOSE {word}")
        for port in range(int(low), int(high or low) + 1):
            ports[f"{port}/{proto}"] = {}
    cfg["ExposedPorts"] = ports


def volume(inst, cfg: dict, variables: dict, escape: str) -> None:
    paths = inst.json_args()
    if paths is None:
        paths = words(inst.args, variables, escape)
    else:
        paths = [substitute(p, variables, escape, keep_quotes=False) for p in paths]
    if not paths or any(not p.strip() for p in paths):
        raise DockerfileError(f"line {inst.line}: VOLUME specified can not be an empty string")
    cfg["Volumes"] = {**(cfg.get("Volumes") or {}), **{p: {} for p in paths}}


def user(inst, cfg: dict, variables: dict, escape: str) -> None:
    value = substitute(inst.args.strip(), variables, escape, keep_quotes=False)
    if not value:
        raise DockerfileError(f"line {inst.line}: USER requires exactly one argument")
    cfg["User"] = value


def stopsignal(inst, cfg: dict, variables: dict, escape: str) -> None:
    from runtime.container.lifecycle import parse_signal
    value = substitute(inst.args.strip(), variables, escape, keep_quotes=False)
    parse_signal(value)  # an unknown signal fails the build, as docker's
    cfg["StopSignal"] = value


def healthcheck(inst, cfg: dict, shell: list) -> None:
    word, _, rest = inst.args.strip().partition(" ")
    if word.upper() == "NONE":
        if rest.strip() or inst.flags:
            raise DockerfileError(f"line {inst.line}: HEALTHCHECK NONE takes no arguments")
        cfg["Healthcheck"] = {"Test": ["NONE"]}
        return
    if word.upper() != "CMD" or not rest.strip():
        raise DockerfileError(f"line {inst.line}: HEALTHCHECK needs CMD (or NONE)")
    from runtime.engine.build.dockerfile import Instruction
    sub = Instruction("CMD", rest, inst.line, rest, {})
    argv = sub.json_args()
    check = {"Test": ["CMD"] + argv if argv is not None else ["CMD-SHELL", rest.strip()]}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                      ("start-interval", "StartInterval")):
        if flag in inst.flags:
            check[key] = duration(inst.flags[flag], inst.line)
    if "retries" in inst.flags:
        if not inst.flags["retries"].isdigit() or int(inst.flags["retries"]) < 1:
            raise DockerfileError(f"line {inst.line}: --retries must be at least 1")
        check["Retries"] = int(inst.flags["retries"])
    cfg["Healthcheck"] = check


def duration(text: str, line: int) -> int:
    """Go's time.ParseDuration for the units HEALTHCHECK takes (30s, 1m30s, 500ms), in nanoseconds."""
    units = {"ns": 1, "us": 10 ** 3, "ms": 10 ** 6, "s": 10 ** 9, "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}
    total, num, i = 0, "", 0
    while i < len(text):
        c = text[i]
        if c.isdigit() or c == ".":
            num += c
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "ms", "s", "m", "h") if text.startswith(u, i)), None)
        if unit is None or not num:
            raise DockerfileError(f"line {line}: invalid duration {text!r}")
        total += int(float(num) * units[unit])
        num, i = "", i + len(unit)
    if num or not text:
        raise DockerfileError(f"line {line}: invalid duration {text!r} (a unit is needed: 30s)")
    return total


def shell(inst) -> list:
    argv = inst.json_args()
    if not argv:
        raise DockerfileError(f"line {inst.line}: SHELL requires the arguments to be in JSON form")
    return argv


def onbuild(inst, cfg: dict) -> None:
    trigger = inst.args.strip()
    word = trigger.split(" ", 1)[0].upper()
    if word in ("ONBUILD", "FROM", "MAINTAINER"):
        raise DockerfileError(f"line {inst.line}: {word} isn't allowed as an ONBUILD trigger")
    cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [trigger]
