"""How the assignment rules retry a lost race: a few times at once, with jittered backoff when others are busy."""

from __future__ import annotations

import random
import time

# Lost races (pointer moved, rep filled up, lead changed) are retried; after that the message fails and SQS
# redelivers it (nothing was written, so nothing is counted twice).
MAX_ATTEMPTS = 30

_sleep = time.sleep  # unit tests of the race logic replace it (no wall-clock waits)


def backoff(attempt: int) -> None:
    """Sleep a random part of 5 ms x 2^attempt (at most 250 ms) so racing workers spread out."""
    _sleep(min(0.25, 0.005 * (2**attempt)) * random.random())  # noqa: S311 - jitter, not crypto
