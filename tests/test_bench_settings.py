"""bench/settings.py: the benchmark's switches live there, production's settings have none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOW = (
    "import json, django; from django.conf import settings; django.setup(); print(json.dumps(["
    "settings.CHANNEL_LAYERS['default']['BACKEND'], 'pool' in settings.DATABASES['default']['OPTIONS'],"
    " settings.ASGI_APPLICATION]))"
)


def _settings(module: str, **env: str) -> list:
    run_env = {**os.environ, "DJANGO_SETTINGS_MODULE": module, "DATABASE_URL": "postgres://u@127.0.0.1:1/x", **env}
    run_env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
    out = subprocess.run(
        [sys.executable, "-c", SHOW], check=False, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_bench_settings_without_switches_are_production_settings() -> None:
    assert _settings("bench.settings") == _settings("neonchat.settings")


def test_bench_switches_change_the_layer_the_pool_and_the_handler() -> None:
    assert _settings("bench.settings", BENCH_CHANNEL_LAYER="core", BENCH_DB_POOL="0", BENCH_DJANGO_HANDLER="1") == [
        "channels_redis.core.RedisChannelLayer",
        False,
        "bench.asgi.application",
    ]


def test_production_settings_ignore_the_bench_switches() -> None:
    assert _settings("neonchat.settings", BENCH_CHANNEL_LAYER="core", BENCH_DB_POOL="0", BENCH_DJANGO_HANDLER="1") == [
        "channels_redis.pubsub.RedisPubSubChannelLayer",
        True,
        "neonchat.asgi.application",
    ]
