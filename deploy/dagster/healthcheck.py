"""Container health check of the Dagster image, one per service (ECS task definitions and Docker HEALTHCHECK).

    python healthcheck.py webserver     GET http://127.0.0.1:$DAGSTER_WEBSERVER_PORT/server_info answers 200
    python healthcheck.py daemon        `dagster-daemon liveness-check`: the daemon's heartbeats are recent
    python healthcheck.py code-server   `dagster api grpc-health-check`: the gRPC server answers SERVING
    python healthcheck.py run           always healthy (a run task ends on its own; the daemon monitors it)

Exit 0 healthy, 1 unhealthy, 2 usage error: ECS replaces a task whose check fails `retries` times.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

SERVICES = ("webserver", "daemon", "code-server", "run")


def _webserver() -> bool:
    port = os.environ.get("DAGSTER_WEBSERVER_PORT", "3000")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
        return response.status == 200


def _command(args: list[str]) -> bool:
    return subprocess.run(args, stdout=subprocess.DEVNULL, timeout=25).returncode == 0


def check(service: str) -> bool:
    if service == "webserver":
        return _webserver()
    if service == "daemon":
        return _command(["dagster-daemon", "liveness-check"])
    if service == "code-server":
        port = os.environ.get("DAGSTER_CODE_SERVER_PORT", "4000")
        return _command(["dagster", "api", "grpc-health-check", "--port", port, "--host", "127.0.0.1"])
    return True


def main(argv: list[str]) -> int:
    service = argv[0] if len(argv) == 1 else os.environ.get("DAGSTER_SERVICE", "")
    if service not in SERVICES:
        print(
            f"error: service {service!r} is not valid: expected one of {', '.join(SERVICES)}", file=sys.stderr
        )
        return 2
    try:
        return 0 if check(service) else 1
    except Exception as error:  # any failure to answer is unhealthy, with the reason in the ECS health log
        print(f"unhealthy: {service}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
