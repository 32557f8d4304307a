"""Seccomp from config.json's linux.seccomp, through libseccomp (ctypes on libseccomp.so.2).

parse() validates the section (pure, at create time); build() turns it into a libseccomp filter in
the init before it reports ready, so a bad rule fails `create`; load() installs it as the init's
last step before execve, so the runtime's own syscalls are never filtered.

Syscall names this libseccomp or architecture does not know are skipped, as runc does: profiles
like docker's list syscalls of every kernel and arch.
"""
import ctypes
import os

from runtime import trace

ACTIONS = {"SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000, "SCMP_ACT_KILL_PROCESS": 0x80000000,
           "SCMP_ACT_TRAP": 0x00030000, "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7ff00000,
           "SCMP_ACT_LOG": 0x7ffc0000, "SCMP_ACT_ALLOW": 0x7fff0000}
OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
             "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 0, "SECCOMP_FILTER_FLAG_LOG": 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}
ARCHES = ("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
          "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
          "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
          "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64")
_EPERM = 1
_ATTR_FLAGS = {"SECCOMP_FILTER_FLAG_LOG": 6, "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 7}  # SCMP_FLTATR_CTL_LOG/SSB
_ATTR_TSYNC = 4
_ATTR_NNP = 3  # SCMP_FLTATR_CTL_NNP: libseccomp sets no_new_privs on load unless told not to


class SeccompError(ValueError):
    pass


def _action(name, errno_ret, where: str, default_errno: int) -> int:
    if name not in ACTIONS:
        if name == "SCMP_ACT_NOTIFY":
            raise SeccompError(f"{where}: SCMP_ACT_NOTIFY is not supported (hull has no seccomp agent)")
        raise SeccompError(f"{where}: unknown action {name!r} (one of {', '.join(sorted(ACTIONS))})")
    value = ACTIONS[name]
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        n = default_errno if errno_ret is None else errno_ret
        if not isinstance(n, int) or not 0 <= n <= 0xffff:
            raise SeccompError(f"{where}: errnoRet must be 0..65535 (got {n!r})")
        value |= n
    return value


def parse(raw: dict) -> dict:
    """Validate linux.seccomp; return {default, arches, flags, rules: [(names, action, [(index, op, a, b)])]}."""
    w = "config.json: linux.seccomp"
    if not isinstance(raw, dict):
        raise SeccompError(f"{w} must be an object")
    default_errno = raw.get("defaultErrnoRet")
    out = {"default": _action(raw.get("defaultAction"), default_errno, f"{w}.defaultAction", _EPERM)}
    arches = raw.get("architectures") or []
    for a in arches:
        if a not in ARCHES:
            raise SeccompError(f"{w}.architectures: unknown architecture {a!r}")
    out["arches"] = list(arches)
    flags = raw.get("flags") or []
    for f in flags:
        if f not in FLAGS:
            raise SeccompError(f"{w}.flags: unknown flag {f!r} (one of {', '.join(FLAGS)})")
    out["flags"] = list(flags)
    if raw.get("listenerPath"):
        raise SeccompError(f"{w}.listenerPath: seccomp notify agents are not supported")
    rules = []
    for i, s in enumerate(raw.get("syscalls") or []):
        sw = f"{w}.syscalls[{i}]"
        if not isinstance(s, dict) or not isinstance(s.get("names"), list) or not s["names"]:
            raise SeccompError(f"{sw} must have a non-empty list of names")
        if not all(isinstance(n, str) and n for n in s["names"]):
            raise SeccompError(f"{sw}.names must be syscall names")
        action = _action(s.get("action"), s.get("errnoRet"), f"{sw}.action", _EPERM)
        args = []
        for j, a in enumerate(s.get("args") or []):
            aw = f"{sw}.args[{j}]"
            if not isinstance(a, dict) or a.get("op") not in OPERATORS:
                raise SeccompError(f"{aw}.op must be one of {', '.join(OPERATORS)}")
            index = a.get("index")
            if not isinstance(index, int) or not 0 <= index <= 5:
                raise SeccompError(f"{aw}.index must be 0..5 (got {index!r})")
            value, two = a.get("value", 0), a.get("valueTwo", 0)
            if not all(isinstance(v, int) and 0 <= v < 2 ** 64 for v in (value, two)):
                raise SeccompError(f"{aw}.value/valueTwo must be unsigned 64-bit integers")
            args.append((index, OPERATORS[a["op"]], value, two))
        rules.append((list(s["names"]), action, args))
    out["rules"] = rules
    return out


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


_lib = None


def _libseccomp():
    global _lib
    if _lib is None:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_native.restype = ctypes.c_uint32
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                               ctypes.POINTER(_ArgCmp)]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        _lib = lib
    return _lib


def build(f: dict):
    """A libseccomp filter context for the parsed filter (not loaded yet)."""
    lib = _libseccomp()
    ctx = lib.seccomp_init(f["default"])
    if not ctx:
        raise OSError(22, "seccomp_init: the default action is not accepted")
    # no_new_privs is the config's choice (process.noNewPrivileges), not a side effect of the filter
    rc = lib.seccomp_attr_set(ctx, _ATTR_NNP, 0)
    if rc < 0:
        raise OSError(-rc, f"seccomp_attr_set(SCMP_FLTATR_CTL_NNP, 0): {os.strerror(-rc)}")
    native = lib.seccomp_arch_native()
    for arch in f["arches"]:
        token = lib.seccomp_arch_resolve_name(arch[len("SCMP_ARCH_"):].lower().encode())
        if token and token != native:
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and rc != -17:  # -EEXIST: already there
                raise OSError(-rc, f"seccomp_arch_add({arch})")
    for flag in f["flags"]:
        if flag in _ATTR_FLAGS:
            lib.seccomp_attr_set(ctx, _ATTR_FLAGS[flag], 1)
        elif flag == "SECCOMP_FILTER_FLAG_TSYNC":
            lib.seccomp_attr_set(ctx, _ATTR_TSYNC, 1)
    skipped = []
    for names, action, args in f["rules"]:
        if action == f["default"]:
            continue  # libseccomp refuses rules that repeat the default action
        cmps = (_ArgCmp * max(len(args), 1))(*[_ArgCmp(i, op, a, b) for i, op, a, b in args])
        for name in names:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr == -1:  # __NR_SCMP_ERROR: not a syscall of this libseccomp/arch
                skipped.append(name)
                continue
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(args), cmps)
            if rc < 0:
                raise OSError(-rc, f"seccomp rule for {name}: {os.strerror(-rc)}")
    if skipped:
        trace.note(f"seccomp: skipped syscalls unknown here: {' '.join(sorted(set(skipped)))}")
    return ctx


def load(ctx) -> None:
    """Install the filter in this process (needs no_new_privs or CAP_SYS_ADMIN)."""
    rc = _libseccomp().seccomp_load(ctx)
    if rc < 0:
        raise OSError(-rc, f"seccomp_load: {os.strerror(-rc)}")
