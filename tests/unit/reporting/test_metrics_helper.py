"""Per-territory EMF metrics: one document per territory, counts summed, values kept, no rep ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from territory_router.metrics import TerritoryMetrics, seconds_between


def test_one_emf_document_per_territory(capsys, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    m = TerritoryMetrics(namespace="TerritoryRouter", service="territory-router")
    for _ in range(3):
        m.add_metric(name="LeadsAssigned", territory_id="WEST")
    m.add_metric(name="TimeToAssign", territory_id="WEST", value=4, unit="Seconds")
    m.add_metric(name="TimeToAssign", territory_id="WEST", value=6, unit="Seconds")
    m.add_metric(name="LeadsAssigned", territory_id=None)

    @m.log_metrics
    def handler():
        return "done"

    assert handler() == "done"
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(docs) == 2
    by_territory = {d["Territory"]: d for d in docs}
    assert set(by_territory) == {"WEST", "(none)"}
    west = by_territory["WEST"]
    assert west["LeadsAssigned"] == [3.0]  # counts summed into one value
    assert west["TimeToAssign"] == [4.0, 6.0]
    assert west["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Territory", "service"]]
    assert m.pending() == {}


def test_flush_even_when_the_handler_raises(capsys, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    m = TerritoryMetrics(namespace="TerritoryRouter", service="territory-router")

    @m.log_metrics
    def handler():
        m.add_metric(name="LeadsTagged", territory_id="EAST")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        handler()
    assert '"Territory":"EAST"' in capsys.readouterr().out


def test_disabled_metrics_print_nothing(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    m = TerritoryMetrics(namespace="TerritoryRouter", service="territory-router")
    m.add_metric(name="LeadsTagged", territory_id="EAST")
    m.flush()
    assert capsys.readouterr().out == ""


def test_seconds_between():
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert seconds_between(t, t + timedelta(seconds=90)) == 90
    assert seconds_between(t.replace(tzinfo=None), t + timedelta(seconds=5)) == 5  # naive = UTC
    assert seconds_between(t + timedelta(seconds=5), t) == 0  # never negative (clock skew)
    assert seconds_between(None, t) is None
