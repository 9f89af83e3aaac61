"""Settings of the benchmark comparisons: production's, plus the switches that exist only to
measure an alternative against it (bench/matrix.py's variants set them; production has none).

* ``BENCH_CHANNEL_LAYER=core``: channels_redis's list-based layer instead of pub/sub.
* ``BENCH_DB_POOL=0``: a new PostgreSQL connection per unit of work instead of the psycopg pool.
* ``BENCH_DJANGO_HANDLER=1``: Django's own ASGI handler (a new thread per request), ``bench/asgi.py``.
"""

from __future__ import annotations

from neonchat.config import env
from neonchat.settings import *  # noqa: F403

if env.choice("BENCH_CHANNEL_LAYER", "pubsub", ("pubsub", "core")) == "core" and REDIS_URL:  # noqa: F405
    CHANNEL_LAYERS["default"]["BACKEND"] = "channels_redis.core.RedisChannelLayer"  # noqa: F405
if not env.bool("BENCH_DB_POOL", default=True):
    DATABASES["default"]["OPTIONS"].pop("pool", None)  # noqa: F405
if env.bool("BENCH_DJANGO_HANDLER", default=False):
    ASGI_APPLICATION = "bench.asgi.application"

LOGGING["loggers"]["daphne"] = {"level": "WARNING"}  # type: ignore[index]  # noqa: F405 - the daphne variant's gateway
