"""The docker-style engine: containers from images (containers.py records, bundle.py their OCI
config, runner.py the lifecycle over the OCI core, monitor.py the one shared monitor, logs.py)."""
