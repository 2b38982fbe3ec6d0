"""How long a client waits between attempts to reconnect to a hub.

The first wait is short (0.1 s), so a hub restarted at once is used again at once; each
failed attempt doubles it up to 5 s, so a hub that stays down costs almost nothing; and
each wait is moved by up to ±20 %, so that the many listeners that lost the same hub do
not all knock at the same instant. The same schedule as ``pipehub-client``.
"""

from __future__ import annotations

import random


class Backoff:
    FIRST = 0.1
    MAX = 5.0
    JITTER = 0.2

    def __init__(self, first: float = FIRST, maximum: float = MAX, jitter: float = JITTER) -> None:
        self.first = first
        self.maximum = max(maximum, first)
        self.jitter = min(max(jitter, 0.0), 1.0)
        self._next = first

    def next_wait(self) -> float:
        """Seconds to wait before the next attempt; the one after waits twice as long."""
        base = self._next
        self._next = min(self._next * 2, self.maximum)
        return base * (1 + self.jitter * random.uniform(-1.0, 1.0))

    def reset(self) -> None:
        """Starts again from the first wait, after an attempt that succeeded."""
        self._next = self.first
