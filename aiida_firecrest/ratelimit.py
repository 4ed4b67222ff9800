"""One rate-limit gate per server and process: a 429 seen by one request holds back all the others.

Without it every request retried on its own: 200 CalcJobs of a daemon worker, refused by a server under its
rate limit, each came back after ``Retry-After`` at the same moment and were refused again together (a 429
storm). With it, after a 429:

* no request of the process goes to that server before the ``Retry-After`` has passed;
* then a single request, the *probe*, goes (the one that was refused, or a waiting one if it is gone); one
  probe per ``Retry-After`` period, whatever the number of waiting requests;
* the others go once an answer other than 429 to a request sent after the refusal says the limit is over,
  each after a random part of the period (jitter), so that the workers of a daemon do not come back in
  lockstep.

The gate holds no ``asyncio`` object: the clients of a process may run in different event loops (the
daemon's, ``asyncio.run`` in ``verdi``), so its state is times of a monotonic clock under a thread lock, and
waiting is the caller's ``sleep``. Nothing here sends a request.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import httpx

__all__ = ('JITTER', 'RateLimitGate', 'clear_rate_limits', 'gate_for')

#: Waiting requests wake up within this fraction of the ``Retry-After`` period after their earliest time.
JITTER = 0.25
#: The shortest period of the gate, in seconds (a ``Retry-After: 0`` would otherwise make waiters spin).
MIN_PERIOD = 0.01


class RateLimitGate:
    """The requests of one process to one server, held back while the server refuses them with 429.

    A request passes :meth:`admission` before it is sent; its answer goes to :meth:`refused` (a 429) or
    :meth:`answered` (anything else). ``ticket`` is any object that stands for one request through its
    retries (the caller's own identity).

    :param clock: a monotonic clock (replaceable in tests).
    :param jitter: a random number in [0, 1) (replaceable in tests).
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, jitter: Callable[[], float] = random.random
    ) -> None:
        self._clock = clock
        self._jitter = jitter
        self._lock = threading.Lock()
        self._closed_at: float | None = None
        """When the gate closed (a 429 arrived); None while it is open."""
        self._open_at = 0.0
        """No request before this time (the latest ``Retry-After``)."""
        self._period = MIN_PERIOD
        self._probe: object | None = None
        self._probe_until = 0.0
        """The probe's turn ends then: another waiting request may probe (the first may be hanging)."""

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    @property
    def is_closed(self) -> bool:
        return self._closed_at is not None

    def admission(self, ticket: object) -> float:
        """0 if the request of ``ticket`` may be sent now, else the seconds to wait before asking again."""
        with self._lock:
            if self._closed_at is None or self._probe is ticket:
                return 0.0
            now = self._clock()
            if now < self._open_at:
                return self._open_at - now + self._jitter() * JITTER * self._period
            if self._probe is not None and now < self._probe_until:
                return min(self._probe_until - now, (0.1 + self._jitter()) * JITTER * self._period)
            self._probe, self._probe_until = ticket, now + self._period
            return 0.0

    def refused(self, ticket: object, retry_after: float) -> bool:
        """Record a 429 with its ``Retry-After`` (in seconds); True if ``ticket``'s request is the probe,
        to be sent again after ``retry_after`` seconds, False if it waits with the others."""
        with self._lock:
            now = self._clock()
            self._period = max(MIN_PERIOD, retry_after)
            self._open_at = max(self._open_at, now + retry_after)
            if self._closed_at is None:
                self._closed_at = now
            if self._probe is None or self._probe is ticket or now >= self._probe_until:
                self._probe, self._probe_until = ticket, self._open_at + self._period
                return True
            return False

    def answered(self, sent_at: float) -> None:
        """Record an answer other than 429 to a request sent at ``sent_at`` (of :attr:`clock`): if it was
        sent after the gate closed, the server accepts requests again and the gate opens."""
        with self._lock:
            if self._closed_at is not None and sent_at >= self._closed_at:
                self._closed_at, self._probe, self._probe_until = None, None, 0.0

    def release(self, ticket: object) -> None:
        """``ticket``'s request ends without an answer, or gives up: a waiting request may probe instead."""
        with self._lock:
            if self._probe is ticket:
                self._probe, self._probe_until = None, 0.0


_GATES: dict[tuple[str, str, int | None], RateLimitGate] = {}
_GATES_LOCK = threading.Lock()


def gate_for(url: httpx.URL) -> RateLimitGate:
    """The process's gate for the server of ``url`` (its scheme, host and port)."""
    key = (url.scheme, url.host, url.port)
    with _GATES_LOCK:
        gate = _GATES.get(key)
        if gate is None:
            gate = _GATES[key] = RateLimitGate()
        return gate


def clear_rate_limits() -> None:
    """Forget every gate of the process (as in a new process)."""
    with _GATES_LOCK:
        _GATES.clear()
