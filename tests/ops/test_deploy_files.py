"""The deployment files stay consistent with the code: metric names, scrape targets, health checks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HEALTHCHECK = DEPLOY / "healthcheck.py"


def _defined_metrics() -> set[str]:
    """Metric names the project defines, with the series suffixes Prometheus exposes."""
    names: set[str] = set()
    pattern = re.compile(r"(?:Counter|Gauge|Histogram)\(\s*\"([a-z_]+)\"")
    apps = ("accounts", "chats", "messaging", "presence", "notifier", "neonchat")
    for path in (p for app in apps for p in (ROOT / app).rglob("*.py")):
        if "tests" in path.parts:
            continue
        names.update(pattern.findall(path.read_text(encoding="utf-8")))
    names.add("django_http_responses_total_by_status")  # django-prometheus
    names.add("up")  # Prometheus itself
    return names


def test_dashboard_queries_use_metrics_the_code_exports() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "neonchat.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    defined = _defined_metrics()
    used = {
        m for e in exprs for m in re.findall(r"\b([a-z_]+_(?:total|seconds_bucket|seconds_count|current|state))\b", e)
    }
    for required in (
        "chat_messages_sent_total",
        "chat_message_delivery_seconds_bucket",
        "websocket_connections_current",
        "grpc_request_duration_seconds_bucket",
        "websocket_errors_total",
        "neonchat_event_publish_errors_total",
        "django_http_responses_total_by_status_total",
    ):
        assert required in used, required
    for name in used:
        base = re.sub(r"_(total|bucket|count)$", "", name)
        assert name in defined or base in defined, f"{name} is not defined by the code"


def test_prometheus_scrapes_the_compose_services() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert {"api:8080", "gateway:8082", "notifier:9081"} <= targets
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert {"api", "gateway", "notifier", "migrate", "postgres", "redis"} <= set(compose["services"])
    hosts = compose["x-app"]["environment"]["ALLOWED_HOSTS"].split(",")
    assert {"127.0.0.1", "api", "gateway"} <= set(hosts)  # health checks and Prometheus' Host headers


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health/live" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_healthcheck_script(http_port: int) -> None:
    assert _healthcheck("http", str(http_port)).returncode == 0
    failed = _healthcheck("http", str(http_port), "/health/ready")
    assert failed.returncode == 1
    assert "503" in failed.stderr
    with HTTPServer(("127.0.0.1", 0), _Handler) as unused:
        free_port = unused.server_address[1]
    assert _healthcheck("http", str(free_port)).returncode == 1
    assert _healthcheck("grpc", str(free_port)).returncode == 1
    assert _healthcheck("bogus").returncode == 2
