"""Container health check for the NeonChat image (standard library + grpcio only).

Usage:
    healthcheck.py                 HTTP GET /health/live on $PORT (default 8080)
    healthcheck.py http PORT [PATH]    HTTP GET PATH (default /health/live) on 127.0.0.1:PORT
    healthcheck.py grpc PORT|ADDR      grpc.health.v1.Health/Check (overall server) on 127.0.0.1:PORT

Exit 0 when healthy, 1 otherwise (one line on stderr saying why). The request
is sent with ``Host: 127.0.0.1``: keep 127.0.0.1 in ALLOWED_HOSTS.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TIMEOUT = float(os.environ.get("HEALTHCHECK_TIMEOUT", "3"))


def check_http(port: str, path: str = "/health/live") -> int:
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            if response.status == 200:
                return 0
            sys.stderr.write(f"healthcheck: {url} answered {response.status}\n")
    except urllib.error.HTTPError as error:
        sys.stderr.write(f"healthcheck: {url} answered {error.code}\n")
    except (OSError, ValueError) as error:
        sys.stderr.write(f"healthcheck: {url} unreachable: {error}\n")
    return 1


def check_grpc(target: str) -> int:
    address = target if ":" in target else f"127.0.0.1:{target}"
    try:
        with grpc.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT)
    except grpc.RpcError as error:
        sys.stderr.write(f"healthcheck: grpc {address}: {error.code().name}\n")
        return 1
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        sys.stderr.write(f"healthcheck: grpc {address}: {status}\n")
        return 1
    return 0


def main(argv: list[str]) -> int:
    mode = argv[0] if argv else os.environ.get("HEALTHCHECK_MODE", "http")
    if mode == "http":
        port = argv[1] if len(argv) > 1 else os.environ.get("PORT", "8080")
        return check_http(port, *argv[2:3])
    if mode == "grpc":
        return check_grpc(argv[1] if len(argv) > 1 else os.environ.get("NOTIFIER_PORT", "8081"))
    sys.stderr.write(f"healthcheck: unknown mode {mode!r} (http or grpc)\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
