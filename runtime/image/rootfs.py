"""A container's root filesystem: the image's layers, read-only and shared, as overlayfs lowerdirs,
and the container's own upper and work directories on top (what docker's overlay2 driver does).

    CONTAINER_DIR/upper    the container's changes (new files; deletions as 0/0 character devices)
    CONTAINER_DIR/work     overlayfs's scratch space (same filesystem as upper)
    CONTAINER_DIR/merged   the mount: what the container sees as /

All mount options must fit one page (4096 bytes). Layer paths in the store are ~100 bytes each, so
the mount is made from the store's root with its short l/ names (~29 bytes): 128 layers fit.
"""
import os

from runtime.image.store import ImageError, Store
from runtime.linux import libc

PAGE = 4096


def mount(store: Store, desc: dict, container_dir: str, extra_lower: str | None = None) -> str:
    """Mount the image desc with container_dir's upper layer (and extra_lower, an absolute path,
    between them: the engine's init layer); returns the merged directory."""
    links = store.lower_links(desc) + ([extra_lower] if extra_lower else [])
    upper, work, merged = (os.path.join(container_dir, d) for d in ("upper", "work", "merged"))
    os.makedirs(container_dir, exist_ok=True)
    for d in (upper, work, merged):
        try:
            os.mkdir(d, 0o755)
            os.chmod(d, 0o755)  # upper's mode is the container's / : never the umask's
        except FileExistsError:
            pass
    # overlayfs lists the top layer first
    options = f"lowerdir={':'.join(reversed(links))},upperdir={upper},workdir={work}"
    if len(options) >= PAGE:
        raise ImageError(f"the image has {len(links)} layers: overlay's mount options would be "
                         f"{len(options)} bytes, more than a page ({PAGE})")
    cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(store.root)  # the l/ names are relative to it
        libc.mount("overlay", merged, "overlay", 0, options)
    finally:
        os.fchdir(cwd)
        os.close(cwd)
    return merged


def unmount(container_dir: str) -> None:
    """Unmount container_dir/merged if it is mounted (the upper layer stays for diff/commit)."""
    merged = os.path.join(container_dir, "merged")
    if os.path.ismount(merged):
        libc.umount2(merged)
