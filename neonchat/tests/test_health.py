"""Liveness and readiness endpoints."""

from __future__ import annotations

import pytest
from django.test import Client

from neonchat import health

pytestmark = pytest.mark.django_db


def test_live() -> None:
    response = Client().get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_ready_with_every_dependency_up() -> None:
    response = Client().get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "healthy", "redis": "healthy", "notification_service": "healthy"},
    }


async def _down() -> bool:
    return False


def test_ready_is_unready_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "_redis_ok", _down)
    response = Client().get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unready" and body["checks"]["redis"] == "unhealthy"
    assert body["checks"]["database"] == "healthy"


def test_ready_is_unready_without_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "_database_ok", lambda: False)
    response = Client().get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unhealthy"


def test_ready_is_degraded_without_notifier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(health._degrading, "notification_service", _down)
    response = Client().get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "healthy", "redis": "healthy", "notification_service": "unhealthy"},
    }


def test_draining_is_unready_but_alive() -> None:
    health.start_draining()
    try:
        assert Client().get("/health/ready").status_code == 503
        assert Client().get("/health/live").status_code == 200
    finally:
        health._draining.clear()
    assert Client().get("/health/ready").status_code == 200
