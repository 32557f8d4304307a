"""The ctypes layer: the only module in hull that calls libc directly.

Every call checks its result and raises OSError(errno, "call(args): strerror") naming the call and
its arguments, so a failure deep inside container set-up reads like a line of strace. Calls that
Python's os module already offers (fork, execve, mknod, chroot, setgroups ...) are used from there.
"""
import ctypes
import errno
import os
import struct
import time

from runtime import trace

_libc = ctypes.CDLL(None, use_errno=True)

# clone(2) / unshare(2) namespace flags
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

# umount2(2) flags
MNT_FORCE = 1
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8

# x86_64 syscall numbers for calls glibc does not wrap
SYS_pivot_root = 155

_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.syscall.restype = ctypes.c_long


def _b(s):
    return None if s is None else os.fsencode(s)


def _check(ret: int, call: str, started: float) -> int:
    """Raise OSError naming the call if ret is -1; narrate it under --trace."""
    if ret == -1:
        err = ctypes.get_errno()
        if trace.enabled:
            trace.emit(call, f"-1 {os.strerror(err)}", started)
        raise OSError(err, f"{call}: {os.strerror(err)}")
    if trace.enabled:
        trace.emit(call, str(ret), started)
    return ret


def mount(source, target, fstype, flags=0, data=None) -> None:
    t = time.perf_counter()
    ret = _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data))
    _check(ret, f"mount({source!r}, {target!r}, {fstype!r}, {mount_flag_names(flags)}, {data!r})", t)


def umount2(target, flags=0) -> None:
    t = time.perf_counter()
    _check(_libc.umount2(_b(target), flags), f"umount2({target!r}, {flags})", t)


def unshare(flags: int) -> None:
    t = time.perf_counter()
    _check(_libc.unshare(flags), f"unshare({clone_flag_names(flags)})", t)


def setns(fd: int, nstype: int = 0, what: str = "") -> None:
    t = time.perf_counter()
    _check(_libc.setns(fd, nstype), f"setns({what or fd}, {clone_flag_names(nstype)})", t)


def pivot_root(new_root: str, put_old: str) -> None:
    t = time.perf_counter()
    ret = _libc.syscall(SYS_pivot_root, _b(new_root), _b(put_old))
    _check(ret, f"pivot_root({new_root!r}, {put_old!r})", t)


def sethostname(name: str) -> None:
    t = time.perf_counter()
    b = name.encode()
    _check(_libc.sethostname(b, len(b)), f"sethostname({name!r})", t)


def setdomainname(name: str) -> None:
    t = time.perf_counter()
    b = name.encode()
    _check(_libc.setdomainname(b, len(b)), f"setdomainname({name!r})", t)


SYS_openat2 = 437
# openat2(2) resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
_openat2_missing = False  # the kernel said ENOSYS once (before 5.6): callers walk instead


def openat2(dirfd: int, path: str, flags: int, mode: int, resolve: int) -> int | None:
    """openat2(2): open path relative to dirfd under the RESOLVE_* rules; None where the kernel
    has no openat2 (the caller falls back to a walk of its own)."""
    global _openat2_missing
    if _openat2_missing:
        return None
    t = time.perf_counter()
    how = struct.pack("=QQQ", flags, mode, resolve)  # struct open_how
    ret = _libc.syscall(SYS_openat2, dirfd, _b(path), how, len(how))
    if ret == -1 and ctypes.get_errno() == errno.ENOSYS:
        _openat2_missing = True
        return None
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)  # the name, as os.open reports it
    if trace.enabled:
        trace.emit(f"openat2({dirfd}, {path!r}, {flags:#o}, resolve={resolve:#x})", str(ret), t)
    return ret


SYS_bpf = 321
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2


def bpf_load_device_program(insns: bytes, license: str = "Apache") -> int:
    """bpf(BPF_PROG_LOAD) of a cgroup device program; returns its fd. If the verifier refuses it,
    the load is repeated with the verifier's log on, and the log's end goes into the error."""
    t = time.perf_counter()
    prog = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())

    def load(log=None):
        # union bpf_attr, the BPF_PROG_LOAD part: prog_type, insn_cnt, insns, license, log_level/size/buf
        attr = ctypes.create_string_buffer(128)
        struct.pack_into("=IIQQIIQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(insns) // 8,
                         ctypes.addressof(prog), ctypes.addressof(lic), 1 if log else 0,
                         len(log) if log else 0, ctypes.addressof(log) if log else 0)
        return _libc.syscall(SYS_bpf, BPF_PROG_LOAD, attr, len(attr))

    ret = load()
    if ret == -1 and ctypes.get_errno() in (errno.EINVAL, errno.EACCES):
        err, log = ctypes.get_errno(), ctypes.create_string_buffer(1 << 16)
        load(log)
        why = log.value.decode(errors="replace").strip().splitlines()
        raise OSError(err, f"bpf(BPF_PROG_LOAD): {os.strerror(err)}: {' / '.join(why[-3:])}")
    return _check(ret, f"bpf(BPF_PROG_LOAD, cgroup device program of {len(insns) // 8} instructions)", t)


def bpf_attach_device_program(cgroup_fd: int, prog_fd: int) -> None:
    """bpf(BPF_PROG_ATTACH): the program decides every device access in the cgroup (and below)."""
    t = time.perf_counter()
    attr = ctypes.create_string_buffer(struct.pack("=IIII", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI),
                                       32)
    _check(_libc.syscall(SYS_bpf, BPF_PROG_ATTACH, attr, len(attr)), f"bpf(BPF_PROG_ATTACH, fd {prog_fd})", t)


PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2


def set_dumpable(on: bool) -> None:
    """Off until execve resets it: /proc/PID/{exe,mem,fd} of this process are root-only and it
    cannot be ptraced, so nothing in the container can reach the runtime's interpreter through them."""
    t = time.perf_counter()
    _check(_libc.prctl(PR_SET_DUMPABLE, int(on), 0, 0, 0), f"prctl(PR_SET_DUMPABLE, {int(on)})", t)


def raise_ambient(cap: int) -> None:
    """python-prctl has no ambient set; it is one prctl call."""
    t = time.perf_counter()
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0), f"prctl(PR_CAP_AMBIENT_RAISE, {cap})", t)



def die_with_parent(parent: int) -> None:
    """SIGKILL this process when the thread that forked it dies; if it died already (our parent is
    no longer `parent`), exit now. A runtime killed mid-setup leaves no setup process running on."""
    t = time.perf_counter()
    _check(_libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0), "prctl(PR_SET_PDEATHSIG, SIGKILL)", t)
    if os.getppid() != parent:
        os._exit(1)


def set_name(name: str) -> None:
    """The process name that ps and /proc/PID/comm show (15 bytes at most); execve replaces it."""
    _libc.prctl(PR_SET_NAME, name.encode(), 0, 0, 0)


def set_child_subreaper() -> None:
    """Orphaned descendants (the container init, once its forking parent exits) reparent to us.
    (python-prctl has this too; it costs ~2 ms to import and `run` needs nothing else from it.)"""
    t = time.perf_counter()
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER, 1)", t)


_MS_NAMES = {v: k for k, v in globals().items() if k.startswith("MS_")}
_CLONE_NAMES = {v: k for k, v in globals().items() if k.startswith("CLONE_")}


def _names(flags: int, table: dict) -> str:
    if not flags:
        return "0"
    parts = [name for bit, name in table.items() if flags & bit]
    rest = flags & ~sum(table)
    if rest:
        parts.append(hex(rest))
    return "|".join(parts)


def mount_flag_names(flags: int) -> str:
    return _names(flags, _MS_NAMES)


def clone_flag_names(flags: int) -> str:
    return _names(flags, _CLONE_NAMES)
