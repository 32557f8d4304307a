"""Capabilities through python-prctl: the bounding set, then effective/permitted/inheritable, then
ambient, around the uid switch the way runc does it. We call its C extension, _prctl, directly: the
prctl.py wrapper spends ~1.4 ms at import building name tables we do not need (see caps.NAMES).

    keep caps across setuid (PR_SET_KEEPCAPS) -> drop from the bounding set -> switch uid/gid
    -> set effective, permitted, inheritable exactly -> raise ambient -> keepcaps off

Note for root containers: at execve a uid-0 process gets permitted = bounding set (the kernel treats
every file as fully capable for root), so the bounding set is what root in the container ends with.
"""

from runtime import trace

# capability(7) numbers are the index; fixed by the kernel ABI
NAMES = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
         "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
         "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
         "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
         "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
         "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
         "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
         "CAP_CHECKPOINT_RESTORE")
NUMBER = {name: i for i, name in enumerate(NAMES)}
SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


_last_cap = None


def last_cap() -> int:
    """The highest capability this kernel knows (read once)."""
    global _last_cap
    if _last_cap is None:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _last_cap = int(f.read())
        except OSError:
            _last_cap = len(NAMES) - 1
    return _last_cap


def mask(names) -> int:
    """The bit mask /proc/PID/status prints (CapEff etc.) for a list of names."""
    m = 0
    for n in names:
        m |= 1 << NUMBER[n]
    return m


def unraisable_ambient(caps: dict) -> list:
    """Ambient names the kernel will refuse to raise: PR_CAP_AMBIENT_RAISE needs the capability in
    both the permitted and the inheritable set. (runc 1.1 ignores the refusal silently; `runc spec`
    itself asks for ambient caps without an inheritable set.)"""
    ok = set(caps.get("permitted", [])) & set(caps.get("inheritable", []))
    return [n for n in caps.get("ambient", []) if n not in ok]


def before_user_switch(caps: dict) -> None:
    """Keep the permitted set across setuid and shrink the bounding set (needs CAP_SETPCAP, which
    we still have)."""
    import _prctl
    _prctl.prctl(_prctl.PR_SET_KEEPCAPS, 1)
    keep = {NUMBER[n] for n in caps.get("bounding", [])}
    for cap in range(last_cap() + 1):
        if cap not in keep:
            _prctl.prctl(_prctl.PR_CAPBSET_DROP, cap)
    trace.note(f"bounding set: {sorted(caps.get('bounding', []))}")


def after_user_switch(caps: dict) -> None:
    """Set the effective, permitted and inheritable sets exactly; raise the ambient ones."""
    import _prctl
    from runtime.linux import libc
    every = set(range(last_cap() + 1))
    on = [sorted(NUMBER[n] for n in caps.get(key, [])) for key in ("effective", "permitted", "inheritable")]
    off = [sorted(every - set(want)) for want in on]
    _prctl.set_caps(*on, *off)  # (effective, permitted, inheritable) to set, then the same to clear
    for name in caps.get("ambient", []):
        libc.raise_ambient(NUMBER[name])
    _prctl.prctl(_prctl.PR_SET_KEEPCAPS, 0)
    trace.note(f"capabilities set: effective {sorted(caps.get('effective', []))}")


def set_no_new_privs() -> None:
    import _prctl
    _prctl.prctl(_prctl.PR_SET_NO_NEW_PRIVS, 1)
