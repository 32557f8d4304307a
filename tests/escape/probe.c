/* hull-probe: one escape attempt per call, made with the raw syscall, printing "ok" or the errno
 * name. Built statically by the escape tests and bind-mounted into the container. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int report(long rc) {
    if (rc < 0) {
        const char *name = strerrorname_np(errno);
        printf("%s\n", name ? name : "E?");
    } else {
        printf("ok\n");
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *what = argv[1], *arg = argc > 2 ? argv[2] : "";
    if (!strcmp(what, "mount")) return report(mount("none", arg, "tmpfs", 0, NULL));
    if (!strcmp(what, "finit_module")) {
        int fd = open("/dev/null", O_RDONLY);
        return report(syscall(SYS_finit_module, fd, "", 0));
    }
    if (!strcmp(what, "write")) {
        int fd = open(arg, O_WRONLY);
        if (fd < 0) return report(fd);
        return report(write(fd, argc > 3 ? argv[3] : "1", strlen(argc > 3 ? argv[3] : "1")));
    }
    if (!strcmp(what, "read")) {  /* prints the byte count read, or the errno */
        char buf[4096];
        int fd = open(arg, O_RDONLY);
        if (fd < 0) return report(fd);
        long n = read(fd, buf, sizeof buf);
        if (n < 0) return report(n);
        printf("read %ld\n", n);
        return 0;
    }
    if (!strcmp(what, "mknod-open")) {  /* make a block device node, then open it */
        unsigned maj = atoi(argv[3]), min = atoi(argv[4]);
        if (mknod(arg, S_IFBLK | 0600, makedev(maj, min)) < 0) { printf("mknod "); return report(-1); }
        return report(open(arg, O_RDONLY));
    }
    if (!strcmp(what, "ptrace")) return report(ptrace(PTRACE_ATTACH, atoi(arg), 0, 0));
    if (!strcmp(what, "kill0")) return report(kill(atoi(arg), 0));
    if (!strcmp(what, "setns")) {
        int fd = open(arg, O_RDONLY);
        if (fd < 0) return report(fd);
        return report(setns(fd, 0));
    }
    if (!strcmp(what, "sethostname")) return report(sethostname(arg, strlen(arg)));
    if (!strcmp(what, "keyctl")) return report(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 0));
    if (!strcmp(what, "unshare-user")) return report(unshare(CLONE_NEWUSER));
    if (!strcmp(what, "euid")) { printf("%d\n", geteuid()); return 0; }
    if (!strcmp(what, "exe")) return report(open("/proc/self/exe", O_WRONLY));
    return 2;
}
