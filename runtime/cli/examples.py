"""One example per verb, shown under "Example:" by `hull VERB --help` (docker's help has them too).

Keyed by the verb's own name, so a management subcommand's example sits under its internal verb
(`hull image inspect` is image-inspect) and is written the way users type it. Kept apart from the
verb tables so that examples can grow without touching the modules that parse; a unit test
(tests/unit/test_help.py) checks that every verb has one.
"""

EXAMPLES = {
    # images
    "images": "hull images\nhull image ls --filter dangling=true",
    "import": "hull import -c 'CMD [\"sh\"]' rootfs.tar busybox:latest",
    "pull": "hull pull busybox:1.36",
    "push": "hull push localhost:5000/app:1",
    "login": "hull login -u alice localhost:5000\n"
             "echo \"$TOKEN\" | hull login -u alice --password-stdin localhost:5000",
    "logout": "hull logout localhost:5000",
    "load": "hull load -i busybox.tar",
    "save": "hull save -o images.tar busybox app:1",
    "tag": "hull tag busybox localhost:5000/busybox:1",
    "rmi": "hull rmi busybox\nhull image rm -f app:1",
    "history": "hull history --no-trunc busybox",
    "image-inspect": "hull image inspect -f '{{.Os}}' busybox",
    "prune": "hull image prune -a -f",
    # build
    "build": "hull build -t app:1 .\nhull build -f Dockerfile.dev --build-arg VERSION=2 -t app:dev .",
    "builder-prune": "hull builder prune -f",
    # containers
    "run": "hull run --rm -it busybox sh\nhull run -d --name web -p 8080:80 -v data:/srv busybox httpd -f -h /srv",
    "create": "hull create --name web busybox sleep 1000",
    "start": "hull start web\nhull start -a web",
    "attach": "hull attach web",
    "stop": "hull stop web\nhull stop -t 1 web",
    "restart": "hull restart -t 1 web",
    "kill": "hull kill web\nhull kill -s HUP web",
    "rm": "hull rm web\nhull rm -f web",
    "ps": "hull ps -a\nhull ps -a --format '{{.Names}} {{.Status}}'",
    "events": "hull events --filter type=container --filter event=die\nhull events --since 10m --until 0s --format '{{json .}}'",
    "inspect": "hull inspect -f '{{.State.Status}}' web",
    "wait": "hull wait web",
    "rename": "hull rename web web-old",
    "pause": "hull pause web",
    "unpause": "hull unpause web",
    "port": "hull port web\nhull port web 80",
    "update": "hull update -m 256m --cpus 0.5 web",
    "logs": "hull logs web\nhull logs -f --tail 10 web",
    "exec": "hull exec -it web sh\nhull exec -e DEBUG=1 web env",
    "top": "hull top web",
    "explain": "hull explain web; hull explain --svg web.svg web; hull explain --diff web db",
    "stats": "hull stats --no-stream",
    "diff": "hull diff web",
    "commit": "hull commit -m 'configured' -c 'CMD [\"httpd\", \"-f\"]' web app:2",
    "cp": "hull cp web:/etc/hostname .\nhull cp app.conf web:/etc/app.conf",
    "export": "hull export -o web.tar web",
    "container-prune": "hull container prune -f",
    # volumes
    "volume-create": "hull volume create --label owner=alice data",
    "volume-ls": "hull volume ls\nhull volume ls -f dangling=true",
    "volume-inspect": "hull volume inspect -f '{{.Mountpoint}}' data",
    "volume-rm": "hull volume rm data",
    "volume-prune": "hull volume prune -f",
    # networks
    "network-create": "hull network create app\nhull network create --subnet 10.66.0.0/24 backend",
    "network-ls": "hull network ls",
    "network-inspect": "hull network inspect bridge",
    "network-rm": "hull network rm app",
    "network-prune": "hull network prune -f",
    "network-connect": "hull network connect --alias db app web",
    "network-disconnect": "hull network disconnect app web",
    # system
    "system-prune": "hull system prune -f\nhull system prune -a --volumes",
    "system-df": "hull system df -v",
    "system-service": "hull system service --time 0 &   # then: DOCKER_HOST=unix:///run/hull/docker.sock docker ps\n"
                      "hull system service -H unix:///tmp/hull.sock --group docker",
    "system-reset": "hull --root /tmp/hull-play system reset -f",
    "info": "hull info\nhull info -f '{{.ServerVersion}}'",
    "version": "hull version",
    "completion": "hull completion bash > /usr/share/bash-completion/completions/hull\n"
                  "source <(hull completion bash)",
}
