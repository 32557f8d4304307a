"""The Docker Engine API door: HTTP requests translated into engine/service calls (nothing else is
decided here). server.py is the HTTP side; one module per resource holds its routes."""


def routes() -> list:
    from runtime.api import build, containers, execs, images, networks, system, volumes
    return (system.ROUTES + containers.ROUTES + execs.ROUTES + images.ROUTES + build.ROUTES + networks.ROUTES
            + volumes.ROUTES)


def serve(root: str, host: str, idle: float, group: str | None = None, tls: dict | None = None,
          config_dir: str | None = None) -> None:
    """`hull system service`: serve until SIGTERM/SIGINT, or idle for `idle` seconds (0: never)."""
    import os
    import signal
    from runtime.api.server import Server, listen
    listener, ctx = listen(host, group, tls)
    server = Server(root, routes(), idle)
    server.tls, server.config_dir = ctx, config_dir  # (config_dir: registry credentials, insecure registries)

    def stop(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        server.serve(listener)
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
        if host.startswith("unix://"):
            try:
                os.unlink(host[len("unix://"):])
            except OSError:
                pass
