"""A one-line progress bar on stderr for long CLI commands (redrawn in place on a terminal, silent otherwise).

Twenty lines of our own rather than a dependency: the shared package is also the Lambda layer, and a progress bar
library would ship to every function for one command.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``update(done)``; ``total=None`` shows a count instead of a bar. ``close()`` ends the line."""

    def __init__(self, label: str, total: int | None = None, *, stream: TextIO | None = None,
                 enabled: bool | None = None, width: int = 30, min_interval_s: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label, self.total, self.width, self.min_interval_s = label, total, width, min_interval_s
        self.done = 0
        self._drawn_at = 0.0
        self._drawn = False

    def render(self) -> str:
        if self.total:
            filled = min(self.width, round(self.width * self.done / self.total))
            percent = min(100, round(100 * self.done / self.total))
            return f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {self.done:,}/{self.total:,} {percent}%"
        return f"{self.label} {self.done:,}"

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self.enabled and (now - self._drawn_at >= self.min_interval_s or done == self.total):
            self.stream.write("\r" + self.render())
            self.stream.flush()
            self._drawn_at, self._drawn = now, True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r" + self.render() + "\n")
            self.stream.flush()
            self._drawn = False
