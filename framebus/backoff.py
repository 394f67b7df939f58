"""How long to wait before trying again: one schedule for every reconnect (cameras, Redis subscriptions).

Doubling from `initial` to `cap`, with jitter so that many clients that failed together (a camera
switch rebooting, a Redis restart) do not retry in lockstep; `reset()` after a success.
Ground floor, like the rest of the frame bus: imports nothing of ours.
"""

from __future__ import annotations

import random


class Backoff:
    """Delays `initial`, 2 x `initial`, ... up to `cap`; each one drawn from the top `jitter` share of it."""

    def __init__(self, initial: float, cap: float, *, jitter: float = 0.5) -> None:
        self.initial, self.cap, self.jitter = initial, cap, jitter
        self.attempt = 0

    def next(self) -> float:
        """The delay before the next attempt (and count this one)."""
        delay = min(self.cap, self.initial * 2**self.attempt)
        self.attempt += 1
        return random.uniform(delay * (1 - self.jitter), delay)

    def reset(self) -> None:
        self.attempt = 0
