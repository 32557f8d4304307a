"""hull: the docker-style engine (images, run, ps, logs ...).

The engine is built on hull-oci's core and lands with the image store (see the issues); today it
reports its version and points at hull-oci.
"""
import sys

from runtime import __version__


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["version"], ["--version"]):
        print(f"hull version {__version__}")
        return 0
    sys.stderr.write("hull: the docker-style engine is not built yet; use hull-oci (the OCI runtime)\n")
    return 125


if __name__ == "__main__":
    sys.exit(main())
