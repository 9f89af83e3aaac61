"""A small thread-safe circuit breaker for the notifier client.

closed → (``threshold`` consecutive failures) → open → (``reset_after`` s) →
half-open: one probe call; success closes, failure opens again.
"""

from __future__ import annotations

import threading
import time
from enum import IntEnum

from prometheus_client import Gauge

# With several api workers (serve --workers), the worst state among the live ones.
breaker_state = Gauge(
    "grpc_client_circuit_state",
    "Circuit breaker state (0 closed, 1 half-open, 2 open)",
    ["target"],
    multiprocess_mode="livemax",
)


class State(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    # reset_after: a supervised notifier is back within about 2 s of a crash; a
    # probe every half second, not every five, lets delivery resume right after it.
    def __init__(self, target: str, *, threshold: int = 5, reset_after: float = 0.5) -> None:
        self.target = target
        self.threshold = threshold
        self.reset_after = reset_after
        self._lock = threading.Lock()
        self._state = State.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        breaker_state.labels(target).set(0)

    @property
    def state(self) -> State:
        with self._lock:
            return self._state

    def _set(self, state: State) -> None:
        self._state = state
        breaker_state.labels(self.target).set(int(state))

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one probe at a time."""
        with self._lock:
            if self._state is State.CLOSED:
                return True
            if self._state is State.OPEN:
                if time.monotonic() - self._opened_at < self.reset_after:
                    return False
                self._set(State.HALF_OPEN)
                self._probing = False
            if self._probing:
                return False
            self._probing = True
            return True

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._probing = False
            self._set(State.CLOSED)

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._probing = False
            if self._state is State.HALF_OPEN or self._failures >= self.threshold:
                self._opened_at = time.monotonic()
                self._set(State.OPEN)
