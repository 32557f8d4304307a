"""Sizes and durations as docker reads and writes them. A leaf module: cgroups/, engine/ and cli/ all
use it."""
from runtime.errors import InvalidArgument

UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_bytes(text: str, flag: str) -> int:
    """'64m', '1g', '1048576', '-1' -> bytes (docker's RAMInBytes suffixes, also kb/mb/gb)."""
    t = text.strip().lower()
    if t == "-1":
        return -1
    num = t.rstrip("bkmgt")
    unit = t[len(num):].rstrip("b") if t[len(num):] not in ("", "b") else ""
    try:
        n = float(num)
    except ValueError:
        raise InvalidArgument(f"invalid value {text!r} for --{flag}: use bytes or a size like 64m") from None
    if unit not in UNITS or n < 0:
        raise InvalidArgument(f"invalid value {text!r} for --{flag}: use bytes or a size like 64m")
    return int(n * UNITS[unit])


def human_size(n: float) -> str:
    """docker's HumanSizeWithPrecision(n, 3): decimal units, three significant digits: 4.26MB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g}{unit}"
        n /= 1000


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second", "5 minutes", "About an hour", "3 weeks"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"
