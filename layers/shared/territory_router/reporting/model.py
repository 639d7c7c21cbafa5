"""The report's numbers, from daily aggregate items + the active territories + the roster (pure: no I/O).

Input items are those of ``AGG#<day>`` partitions (see ``reporting.aggregates``); the model sums them over the
date range, per territory, per rep and per day, and joins names, current open leads and capacities.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from territory_router.domain.leads import TagMethod, TagPrecision
from territory_router.domain.territory import Territory
from territory_router.reporting import aggregates as agg

MAX_DAYS = 400  # one Query per day: keep a report's cost bounded

TERRITORY_COLUMNS = (
    agg.ASSIGNED, agg.KEPT, agg.REROUTED, agg.ESCALATED, agg.ATTENDED, agg.ATTENDED_LATE, agg.CLOSED, agg.FALLBACK,
    agg.SLA_BREACHES, agg.TTFT_SUM, agg.TTFT_COUNT, agg.TTA_SUM, agg.TTA_COUNT,
) + tuple(f"{agg.TAG_PREFIX}{m.value}" for m in TagMethod) + tuple(f"{agg.PRECISION_PREFIX}{p.value}" for p in TagPrecision)
REP_COLUMNS = (
    agg.ASSIGNED, agg.KEPT, agg.REROUTED_IN, agg.ESCALATED_IN, agg.MISSED, agg.ATTENDED, agg.ATTENDED_LATE, agg.CLOSED,
    agg.SLA_BREACHES, agg.TTFT_SUM, agg.TTFT_COUNT,
)


def days_between(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    n = (end - start).days + 1
    if n > MAX_DAYS:
        raise ValueError(f"{n} days asked; a report covers at most {MAX_DAYS} days")
    return [start + timedelta(days=i) for i in range(n)]


def _avg(total: int, count: int) -> float | None:
    return total / count if count else None


@dataclass(frozen=True)
class RepInfo:
    """A rep as the report shows it: roster name/capacity and the live open-lead counter."""

    rep_id: str
    name: str = ""
    capacity: int | None = None
    active: bool = True
    open_leads: int = 0


@dataclass
class TerritoryRow:
    territory_id: str
    name: str
    counters: dict[str, int]
    in_active_set: bool
    has_geometry: bool = False

    @property
    def volume(self) -> int:
        return self.counters.get(agg.ASSIGNED, 0)

    @property
    def sla_breaches(self) -> int:
        return self.counters.get(agg.SLA_BREACHES, 0)

    @property
    def precision_shares(self) -> dict[str, float]:
        """Share of the leads assigned in the period by how precisely they were located (ladder order)."""
        counts = {p.value: self.counters.get(agg.PRECISION_PREFIX + p.value, 0) for p in TagPrecision}
        total = sum(counts.values())
        return {p: n / total for p, n in counts.items() if n} if total else {}

    @property
    def ttft_avg_s(self) -> float | None:
        return _avg(self.counters.get(agg.TTFT_SUM, 0), self.counters.get(agg.TTFT_COUNT, 0))

    @property
    def tta_avg_s(self) -> float | None:
        return _avg(self.counters.get(agg.TTA_SUM, 0), self.counters.get(agg.TTA_COUNT, 0))

    @property
    def breach_rate(self) -> float | None:
        """Breaches per lead assigned (a lead re-routed twice counts twice)."""
        return self.sla_breaches / self.volume if self.volume else None


@dataclass
class RepRow:
    rep: RepInfo
    counters: dict[str, int]
    in_roster: bool

    @property
    def load_ratio(self) -> float | None:
        return self.rep.open_leads / self.rep.capacity if self.rep.capacity else None

    @property
    def ttft_avg_s(self) -> float | None:
        return _avg(self.counters.get(agg.TTFT_SUM, 0), self.counters.get(agg.TTFT_COUNT, 0))


@dataclass
class ReportModel:
    start: date
    end: date
    generated_at: datetime
    days: list[str]
    territories: list[TerritoryRow]
    reps: list[RepRow]
    daily: dict[str, dict[str, dict[str, int]]]  # day -> territory id -> counters
    totals: dict[str, int]
    territory_version: str | None = None
    geometries: dict[str, Any] = field(default_factory=dict, repr=False)  # territory id -> shapely geometry

    def daily_value(self, day: str, territory_id: str, counter: str) -> int:
        return self.daily.get(day, {}).get(territory_id, {}).get(counter, 0)

    @property
    def ttft_avg_s(self) -> float | None:
        return _avg(self.totals.get(agg.TTFT_SUM, 0), self.totals.get(agg.TTFT_COUNT, 0))


def _counters(item: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in item.items() if k in agg.COUNTERS and isinstance(v, int | float)}


def build_report(
    items: Iterable[Mapping[str, Any]],
    *,
    start: date,
    end: date,
    territories: Sequence[Territory] = (),
    reps: Sequence[RepInfo] = (),
    generated_at: datetime,
    territory_version: str | None = None,
) -> ReportModel:
    """Sum the aggregate items of ``start``..``end`` (inclusive) into the report."""
    days = [d.isoformat() for d in days_between(start, end)]
    wanted = set(days)
    by_territory: dict[str, dict[str, int]] = {}
    by_rep: dict[str, dict[str, int]] = {}
    daily: dict[str, dict[str, dict[str, int]]] = {}
    totals: dict[str, int] = {}
    for item in items:
        pk, sk = str(item.get("pk", "")), str(item.get("sk", ""))
        day = pk[len(agg.AGG_PREFIX):] if pk.startswith(agg.AGG_PREFIX) else None
        if day not in wanted:
            continue
        counters = _counters(item)
        if sk.startswith(agg.TERRITORY_PREFIX):
            tid = sk[len(agg.TERRITORY_PREFIX):]
            _merge(by_territory.setdefault(tid, {}), counters)
            _merge(daily.setdefault(day, {}).setdefault(tid, {}), counters)
            _merge(totals, counters)
        elif sk.startswith(agg.REP_PREFIX):
            _merge(by_rep.setdefault(sk[len(agg.REP_PREFIX):], {}), counters)
    known = {t.territory_id: t for t in territories}
    rows = [
        TerritoryRow(t.territory_id, t.name or t.territory_id, by_territory.get(t.territory_id, {}), True, t.geometry is not None)
        for t in territories
    ]
    rows += [TerritoryRow(tid, tid, c, False) for tid, c in sorted(by_territory.items()) if tid not in known]
    rows.sort(key=lambda r: (-r.volume, r.territory_id))
    roster = {r.rep_id: r for r in reps}
    rep_rows = [RepRow(r, by_rep.get(r.rep_id, {}), True) for r in reps]
    rep_rows += [RepRow(RepInfo(rid, rid), c, False) for rid, c in sorted(by_rep.items()) if rid not in roster]
    rep_rows.sort(key=lambda r: (-(r.load_ratio or 0.0), -r.counters.get(agg.ASSIGNED, 0), r.rep.name or r.rep.rep_id))
    return ReportModel(
        start=start,
        end=end,
        generated_at=generated_at,
        days=days,
        territories=rows,
        reps=rep_rows,
        daily=daily,
        totals=totals,
        territory_version=territory_version,
        geometries={t.territory_id: t.geometry for t in territories if t.geometry is not None},
    )


def _merge(into: dict[str, int], counters: Mapping[str, int]) -> None:
    for k, v in counters.items():
        into[k] = into.get(k, 0) + v


# ------------------------------------------------------------------------------------------------- files


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def territory_record(row: TerritoryRow) -> dict[str, Any]:
    return {
        "territory_id": row.territory_id,
        "name": row.name,
        "in_active_set": row.in_active_set,
        **{c: row.counters.get(c, 0) for c in TERRITORY_COLUMNS},
        "ttft_avg_s": _round(row.ttft_avg_s),
        "tta_avg_s": _round(row.tta_avg_s),
        "breach_rate": _round(row.breach_rate, 4),
        **{f"share_{p.lower()}": _round(row.precision_shares.get(p, 0.0), 4) for p in (t.value for t in TagPrecision)},
    }


def rep_record(row: RepRow) -> dict[str, Any]:
    return {
        "rep_id": row.rep.rep_id,
        "name": row.rep.name,
        "in_roster": row.in_roster,
        "active": row.rep.active,
        "open_leads": row.rep.open_leads,
        "capacity": row.rep.capacity,
        "load_ratio": _round(row.load_ratio, 4),
        **{c: row.counters.get(c, 0) for c in REP_COLUMNS},
        "ttft_avg_s": _round(row.ttft_avg_s),
    }


def daily_records(model: ReportModel) -> list[dict[str, Any]]:
    out = []
    for day in model.days:
        for tid, counters in sorted(model.daily.get(day, {}).items()):
            out.append({
                "day": day, "territory_id": tid, **{c: counters.get(c, 0) for c in TERRITORY_COLUMNS},
                "ttft_avg_s": _round(_avg(counters.get(agg.TTFT_SUM, 0), counters.get(agg.TTFT_COUNT, 0))),
            })
    return out


def to_json(model: ReportModel) -> dict[str, Any]:
    return {
        "from": model.start.isoformat(),
        "to": model.end.isoformat(),
        "generated_at": model.generated_at.isoformat(),
        "territory_version": model.territory_version,
        "totals": {**{c: model.totals.get(c, 0) for c in TERRITORY_COLUMNS}, "ttft_avg_s": _round(model.ttft_avg_s)},
        "territories": [territory_record(r) for r in model.territories],
        "reps": [rep_record(r) for r in model.reps],
        "daily": daily_records(model),
    }


def to_csv(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if record.get(k) is None else record.get(k) for k in columns})
    return buf.getvalue()


def csv_files(model: ReportModel) -> dict[str, str]:
    territories = [territory_record(r) for r in model.territories]
    reps = [rep_record(r) for r in model.reps]
    daily = daily_records(model)
    t_cols = list(territory_record(TerritoryRow("", "", {}, False)).keys())
    r_cols = list(rep_record(RepRow(RepInfo(""), {}, False)).keys())
    d_cols = ["day", "territory_id", *TERRITORY_COLUMNS, "ttft_avg_s"]
    return {
        "territories.csv": to_csv(territories, t_cols),
        "reps.csv": to_csv(reps, r_cols),
        "daily.csv": to_csv(daily, d_cols),
    }
