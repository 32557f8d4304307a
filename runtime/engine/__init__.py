"""The docker-style engine: containers from images (containers.py records, bundle.py their OCI
config, runner.py the lifecycle over the OCI core, monitor.py the one shared monitor, logs.py)."""
import os


def private_root(root: str) -> None:
    """The root and all it holds are root's alone, as docker's data root: other local users can
    read no container's files, volume or log through it, whatever the umask. One stat when it is."""
    try:
        if os.stat(root).st_mode & 0o077:
            os.chmod(root, 0o700)
    except FileNotFoundError:
        os.makedirs(root, mode=0o700, exist_ok=True)
        os.chmod(root, 0o700)
