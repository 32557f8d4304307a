"""hull: a container runtime in Python. See README.md for the tour."""
__version__ = "0.1.0"
OCI_VERSION = "1.2.0"
