"""The garbage collector of a long-running process: what was built at startup is not scanned again.

A full (generation 2) collection walks every tracked object. In a serving
process most of them are built once, at startup: modules, Django's apps,
settings and URL conf, DRF, gRPC and Channels. Walking them took 60-120 ms
per full collection in the gateway and the notifier under 100 msg/s
(docs/performance.md), a stall for every message in flight at that moment.
:func:`freeze_startup_objects` moves them to the permanent generation once the
process is ready to serve: collections then walk only what was allocated
since, and objects of the startup that become garbage later are simply never
freed (they are not expected to).
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect once, then exclude every object alive now from all later collections."""
    gc.collect()
    gc.freeze()
