"""Device rules on cgroup v2: an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) built from the rules.

v2 has no devices.allow file; the kernel instead runs a program attached to the cgroup on every
open/mknod of a device node, with a context of three 32-bit words:

    access_type = access << 16 | type    type: 1 block, 2 char;  access: 1 mknod, 2 read, 4 write
    major, minor

The program checks the rules last to first (a later rule overrides an earlier one, as writes to
v1's devices.allow/deny do) and returns 1 (allow) or 0 (deny) for the first that matches. An allow
rule matches when it grants every access asked for; a deny rule when it covers any of them. If none
matches, access is allowed, as in a v1 cgroup with no rules (configs start with "deny all").
"""
import struct

_TYPES = {"b": 1, "c": 2}
_ACCESS = {"m": 1, "r": 2, "w": 4}

# the few eBPF instructions we need (see linux/bpf_common.h and linux/bpf.h)
_LDX_W = 0x61    # dst = *(u32 *)(src + off)
_AND32_K = 0x54  # dst &= imm
_RSH32_K = 0x74  # dst >>= imm
_MOV64_X = 0xbf  # dst = src
_MOV64_K = 0xb7  # dst = imm
_JNE_K = 0x55    # if dst != imm: pc += off
_JEQ_K = 0x15    # if dst == imm: pc += off
_EXIT = 0x95     # return r0


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _rule(rule: dict) -> list:
    """Instructions for one rule: jumps that skip to the next rule, then return allow/deny."""
    checks = []  # (code, dst, imm, extra instructions before the jump)
    if rule["type"] != "a":
        checks.append(([], _JNE_K, 2, _TYPES[rule["type"]]))
    bits = sum(_ACCESS[a] for a in set(rule["access"]))
    if bits != 7:
        if rule["allow"]:  # skip unless every requested bit is granted
            checks.append(([_insn(_MOV64_X, 1, 3), _insn(_AND32_K, 1, imm=~bits & 7)], _JNE_K, 1, 0))
        else:  # skip unless some requested bit is denied
            checks.append(([_insn(_MOV64_X, 1, 3), _insn(_AND32_K, 1, imm=bits)], _JEQ_K, 1, 0))
    if "major" in rule:
        checks.append(([], _JNE_K, 4, rule["major"]))
    if "minor" in rule:
        checks.append(([], _JNE_K, 5, rule["minor"]))
    tail = [_insn(_MOV64_K, 0, imm=1 if rule["allow"] else 0), _insn(_EXIT)]
    out = []
    for i, (pre, code, reg, imm) in enumerate(checks):
        rest = sum(len(p) + 1 for p, _, _, _ in checks[i + 1:]) + len(tail)
        out += pre + [_insn(code, reg, off=rest, imm=imm)]
    return out + tail


def program(rules: list) -> bytes:
    """The eBPF program for rules (as parsed by resources.parse, in config order)."""
    insns = [
        _insn(_LDX_W, 2, 1, 0), _insn(_AND32_K, 2, imm=0xffff),  # r2 = type
        _insn(_LDX_W, 3, 1, 0), _insn(_RSH32_K, 3, imm=16),      # r3 = access
        _insn(_LDX_W, 4, 1, 4),                                  # r4 = major
        _insn(_LDX_W, 5, 1, 8),                                  # r5 = minor
    ]
    for rule in reversed(rules):
        block = _rule(rule)
        insns += block
        if len(block) == 2:  # a rule for every device and access: nothing after it is reachable
            return b"".join(insns)
    insns += [_insn(_MOV64_K, 0, imm=1), _insn(_EXIT)]
    return b"".join(insns)
