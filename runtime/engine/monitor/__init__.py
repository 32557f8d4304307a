"""The shared monitor: one long-lived process per hull root, for every detached container.

It is the child subreaper of every container it starts (through runner.launch), so their inits
are its children: it reads their stdout/stderr pipes (or pty) into the json-file logs, reaps them,
writes the exit code to disk (runner.finish), applies --rm and restart policies (docker's back-off:
100 ms doubling to a minute, reset after 10 s of running), and streams output to `hull attach`.
One process for all containers (conmon's job, without a process each): per container it holds a
few file descriptors and a small record. It starts on demand (connect()), runs in a cgroup of its
own, and exits when it watches nothing.

    ROOT/run/monitor.sock   requests: one JSON line, one JSON reply ({"op": "start", "id": ID})
                            or, for attach, framed streams after the reply (see Frames)
    ROOT/run/monitor.lock   held by the one monitor of this root

The package, in the order a request travels:
    protocol.py  the socket's paths, the JSON request line and reply, the frames of a stream
    client.py    what hull's commands call: connect (starting a monitor if none answers), request, call
    keeper.py    the process a client starts: the monitor's cgroup, then the monitor in it
    loop.py      the monitor itself: one selector loop over every container's pipes, its requests,
                 SIGCHLD, restarts (restart.py's rules) and DNS
"""
from runtime.engine.monitor.client import NetlinkClient, adopt_terminal, call, connect, request, warm  # noqa: F401
from runtime.engine.monitor.protocol import (EXIT, RESIZE, STDERR, STDIN, STDOUT, paths, read_frame,  # noqa: F401
                                             read_reply, send_frame, send_request)
