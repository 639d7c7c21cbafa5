"""Per-territory CloudWatch metrics (Embedded Metric Format through powertools), cheap and low-cardinality.

A handler's ``Metrics()`` has one dimension set (``service``) for the whole invocation. Per-territory metrics go
through ``TerritoryMetrics`` instead: values are collected during the invocation and flushed at its end as ONE
EMF document per territory (dimensions ``Territory`` + ``service``; a metric with many values is a value array),
so a batch of 100 leads in 5 territories writes 5 log lines, not 100.

Only territory ids are ever a dimension (tens per org). Never pass a rep or lead id: each distinct dimension value
is a separate, billed CloudWatch metric.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

TERRITORY_DIMENSION = "Territory"
NO_TERRITORY = "(none)"
MAX_DIMENSION_VALUE = 250
MAX_VALUES_PER_METRIC = 100  # EMF: at most 100 values in one metric's array


def territory_value(territory_id: str | None) -> str:
    value = (territory_id or "").strip() or NO_TERRITORY
    return value[:MAX_DIMENSION_VALUE]


class TerritoryMetrics:
    """Collects ``(territory, metric) -> values`` and flushes one EMF document per territory."""

    def __init__(self, namespace: str | None = None, service: str | None = None) -> None:
        self.namespace = namespace
        self.service = service
        self._lock = threading.Lock()
        self._values: dict[str, dict[str, tuple[MetricUnit, list[float]]]] = {}

    def add_metric(self, *, name: str, territory_id: str | None, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
        territory = territory_value(territory_id)
        with self._lock:
            metrics = self._values.setdefault(territory, {})
            _unit, values = metrics.setdefault(name, (unit, []))
            if unit == MetricUnit.Count and values:
                values[0] += float(value)  # counts only need their sum (one value per document)
            else:
                values.append(float(value))

    def pending(self) -> dict[str, dict[str, list[float]]]:
        """What would be flushed (territory -> metric -> values); for tests."""
        with self._lock:
            return {t: {n: list(v) for n, (_u, v) in m.items()} for t, m in self._values.items()}

    def flush(self) -> None:
        with self._lock:
            values, self._values = self._values, {}
        for territory, metrics in sorted(values.items()):
            chunks = max(len(v) for _u, v in metrics.values())
            for start in range(0, chunks, MAX_VALUES_PER_METRIC):
                emf = EphemeralMetrics(namespace=self.namespace, service=self.service)
                emf.add_dimension(name=TERRITORY_DIMENSION, value=territory)
                added = False
                for name, (unit, vals) in sorted(metrics.items()):
                    for v in vals[start : start + MAX_VALUES_PER_METRIC]:
                        emf.add_metric(name=name, unit=unit, value=v)
                        added = True
                if added:
                    emf.flush_metrics()  # prints the EMF line; honours POWERTOOLS_METRICS_DISABLED

    def log_metrics(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: flush at the end of every invocation (also when the handler raises)."""

        @functools.wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            finally:
                self.flush()

        return wrapper


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from ``start`` to ``end`` (naive values are UTC), never negative; None when either is missing."""
    if start is None or end is None:
        return None
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    return max(0.0, (end - start).total_seconds())
