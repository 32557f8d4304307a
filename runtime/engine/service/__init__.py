"""The engine's one interface: every door (the hull CLI today, the Docker Engine API next) calls
these functions, so no rule of the engine is written twice. Each takes the shapes of docker's API
(a request body, query parameters as keyword arguments) and returns its response shapes as plain
dicts; failures are the kinds of runtime/errors.py, which carry both an exit code and an HTTP status.

    containers.create(root, body, name)       POST /containers/create      -> {"Id", "Warnings"}
    containers.summaries(root, all, limit, filters, size)  GET /containers/json -> [ContainerSummary]
    containers.inspect(root, ref, size)        GET /containers/{id}/json    -> ContainerJSON
    containers.start(root, ref)                POST /containers/{id}/start  (a detached start, by the monitor)
    containers.stop(root, ref, t, signal)      POST /containers/{id}/stop
    containers.restart(root, ref, t)           POST /containers/{id}/restart
    containers.kill(root, ref, signal)         POST /containers/{id}/kill
    containers.remove(root, ref, force, v)     DELETE /containers/{id}
    containers.pause / unpause(root, ref)      POST /containers/{id}/pause, /unpause
    containers.rename(root, ref, name)         POST /containers/{id}/rename
    containers.update(root, ref, body)         POST /containers/{id}/update -> {"Warnings"}
    containers.wait(root, ref)                 POST /containers/{id}/wait   -> {"StatusCode"}
    containers.port_map(root, ref)             NetworkSettings.Ports of a running container
    containers.changes(root, ref)              GET /containers/{id}/changes -> [{"Path", "Kind"}]
    containers.prune(root)                     POST /containers/prune       -> {"ContainersDeleted", "SpaceReclaimed"}
    explain.explain(root, ref) / diff(root, a, b)  hull explain: the kernel's view (no API endpoint)

    images.summaries(root, all, filters)       GET /images/json             -> [ImageSummary]
    images.inspect(root, name)                 GET /images/{name}/json      -> ImageInspect
    images.history(root, name)                 GET /images/{name}/history   -> [{"Id", "Created", "CreatedBy", ...}]
    images.remove(root, name, force)           DELETE /images/{name}        -> [{"Untagged"}, {"Deleted"}]
    images.prune(root, every)                  POST /images/prune           -> {"ImagesDeleted", "SpaceReclaimed"}
    images.prune_cache(root)                   POST /build/prune            -> {"CachesDeleted", "SpaceReclaimed"}
    images.pull(root, name, platform, cfg, progress)  POST /images/create?fromImage= -> the reference
    images.push(root, name, cfg, progress)     POST /images/{name}/push     -> the manifest digest
    images.import_(root, path, ref, changes)   POST /images/create?fromSrc= -> the image ID
    images.load(root, path) / save(root, names, path, format)  POST /images/load, GET /images/get
    images.tag(root, source, target)           POST /images/{name}/tag

    build.build(root, query, context_dir | context_tar, out)  POST /build -> the image ID

    networks.create(root, body)                POST /networks/create        -> {"Id", "Warning"}
    networks.summaries(root)                   GET /networks                -> [Network]
    networks.inspect(root, ref)                GET /networks/{id}           -> Network
    networks.remove(root, ref)                 DELETE /networks/{id}
    networks.prune(root)                       POST /networks/prune         -> {"NetworksDeleted"}
    networks.connect / disconnect(root, ref, body)  POST /networks/{id}/connect, /disconnect

    volumes.create(root, body)                 POST /volumes/create         -> Volume
    volumes.summaries(root, filters)           GET /volumes                 -> {"Volumes", "Warnings"}
    volumes.inspect(root, name)                GET /volumes/{name}          -> Volume
    volumes.remove(root, name, force)          DELETE /volumes/{name}
    volumes.prune(root)                        POST /volumes/prune          -> {"VolumesDeleted", "SpaceReclaimed"}

    system.info(root)                          GET /info                    -> SystemInfo
    system.df(root)                            GET /system/df               -> {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
    system.sweep(root)                         what a crashed hull left (system prune's last part) -> [lines]
    system.reset(root)                         podman's system reset: everything of the root, and the root

Progress and output go to writers the caller passes; nothing here prints.
"""
