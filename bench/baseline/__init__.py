"""The baseline: the chat of the Channels tutorial (parts 2-3), unchanged in substance.

A room group per URL, ``chat_message`` echoing to the group, no accounts, no
persistence, served by daphne over ``channels_redis.core.RedisChannelLayer``::

    DJANGO_SETTINGS_MODULE=bench.baseline.settings .venv/bin/daphne -b 127.0.0.1 -p 8120 bench.baseline.asgi:application
"""
