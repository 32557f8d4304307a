"""AppArmor and SELinux labels for the container process: applied when the LSM is enabled,
skipped with a warning when it is not (a config written for another host should still run)."""
import os


def apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


def skipped(process) -> list:
    """Warnings for labels this host cannot apply."""
    out = []
    if process.apparmor_profile and not apparmor_enabled():
        out.append(f"process.apparmorProfile {process.apparmor_profile!r} skipped: AppArmor is not enabled here")
    if process.selinux_label and not selinux_enabled():
        out.append(f"process.selinuxLabel {process.selinux_label!r} skipped: SELinux is not enabled here")
    return out


def set_exec_labels(process) -> None:
    """Labels take effect at the next execve (the container's program)."""
    if process.apparmor_profile and apparmor_enabled():
        path = "/proc/self/attr/apparmor/exec"
        with open(path if os.path.exists(path) else "/proc/self/attr/exec", "w") as f:
            f.write(f"exec {process.apparmor_profile}")
    if process.selinux_label and selinux_enabled():
        with open("/proc/self/attr/exec", "w") as f:
            f.write(process.selinux_label)
