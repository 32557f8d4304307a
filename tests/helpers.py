"""Helpers shared by the test modules (importable: conftest.py is not)."""
import shutil
import sys


def hull_oci_cmd() -> list:
    """The installed launcher (what engines run), else the module from this checkout."""
    path = shutil.which("hull-oci")
    if path:
        return [path]
    return [sys.executable, "-m", "runtime.cli.oci"]
