"""TerritoryStore + process_territory_upload against the moto server: versions, activation, rollback."""

from __future__ import annotations

import json
import re
import threading

import boto3
import pytest

from territory_router.adapters.territory_store import (
    ActivationConflict,
    NothingToRollBack,
    TerritoryStore,
    VersionNotActivatable,
    VersionNotFound,
)
from territory_router.services.territory_upload import process_territory_upload
from territory_router.tagging.index import TerritoryIndex
from territory_router.territories.report import ValidationOptions

BUCKET = "territory-bucket"
TABLE = "routing-table"


def square(tid: str, x0: float, y0: float, size: float = 1.0, **props) -> dict:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {
        "type": "Feature",
        "properties": {"territory_id": tid, "name": tid.title(), **props},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def geojson(*features) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


@pytest.fixture
def store(aws_endpoint):
    s3 = boto3.client("s3", region_name="us-east-1")
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    ddb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return TerritoryStore(s3, ddb, BUCKET, TABLE)


def upload(store: TerritoryStore, key: str, body: bytes, **kwargs):
    store.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return process_territory_upload(BUCKET, key, store=store, **kwargs)


def test_valid_upload_is_stored_compiled_and_activated(store):
    outcome = upload(
        store, "territories/west.geojson", geojson(square("west", -120, 35), square("east", -80, 35))
    )
    assert outcome.valid and outcome.activated and not outcome.duplicate
    assert outcome.status == "ACTIVE"
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", outcome.version)
    assert outcome.index_key == f"compiled/{outcome.version}.idx"
    assert store.get_active() == (outcome.version, outcome.index_key)

    report = json.loads(store.load_bytes(f"reports/{outcome.version}.json"))
    assert report["valid"] is True and report["territories"] == 2
    html = store.load_bytes(f"maps/{outcome.version}.html").decode()
    assert 'id="overlaps"' in html and "West" in html
    index = TerritoryIndex.from_bytes(store.load_bytes(outcome.index_key))
    assert set(index.ids) == {"west", "east"}

    record = store.get_active_record()
    assert record["version"] == outcome.version and "activated_at" in record
    versions = store.list_versions()
    assert [(v.version, v.status, v.source_key) for v in versions] == [
        (outcome.version, "ACTIVE", "territories/west.geojson")
    ]


def test_rejected_upload_never_replaces_the_live_set(store):
    good = upload(store, "territories/a.geojson", geojson(square("a", 0, 0)))
    bad_ring = {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [200, 1], [0, 0]]]}
    bad = upload(
        store,
        "territories/b.geojson",
        geojson({"type": "Feature", "properties": {"territory_id": "b"}, "geometry": bad_ring}),
    )
    assert not bad.valid and not bad.activated
    assert bad.status == "REJECTED" and bad.index_key is None and bad.errors == 1
    assert store.get_active() == (good.version, good.index_key)
    record = store.get_version(bad.version)
    assert "out of range" in record.errors[0]["reason"]
    report = json.loads(store.load_bytes(bad.report_key))
    assert report["valid"] is False
    with pytest.raises(VersionNotActivatable):
        store.activate(bad.version)
    assert store.get_active().version == good.version


def test_activate_and_rollback_like_undo(store):
    v1 = upload(store, "territories/1.geojson", geojson(square("one", 0, 0))).version
    v2 = upload(store, "territories/2.geojson", geojson(square("two", 0, 0))).version
    v3 = upload(store, "territories/3.geojson", geojson(square("three", 0, 0)), auto_activate=False).version
    assert store.get_active().version == v2
    assert store.get_version(v1).status == "SUPERSEDED"
    assert store.get_version(v3).status == "VALID"

    store.activate(v3)
    assert store.get_active().version == v3
    assert store.get_active_record()["previous_version"] == v2
    assert store.rollback().version == v2
    assert store.get_version(v3).status == "SUPERSEDED"
    assert store.rollback().version == v1
    with pytest.raises(NothingToRollBack):
        store.rollback()
    assert store.get_active().version == v1
    with pytest.raises(VersionNotFound):
        store.activate("20200101T000000Z-deadbeef")
    statuses = {v.version: v.status for v in store.list_versions()}
    assert statuses == {v1: "ACTIVE", v2: "SUPERSEDED", v3: "SUPERSEDED"}


def test_activation_from_a_stale_read_is_refused(store):
    v1 = upload(store, "territories/1.geojson", geojson(square("one", 0, 0))).version
    v2 = upload(store, "territories/2.geojson", geojson(square("two", 0, 0)), auto_activate=False).version
    v3 = upload(store, "territories/3.geojson", geojson(square("three", 0, 0)), auto_activate=False).version
    stale = store.get_active_record()  # both "admins" read v1 as active
    store.activate(v2)
    with pytest.raises(ActivationConflict):
        store._switch(v3, stale, [v1])
    assert store.get_active().version == v2
    assert store.get_version(v3).status == "VALID"


def test_concurrent_activations_leave_one_consistent_pointer(store):
    versions = [
        upload(store, f"territories/{i}.geojson", geojson(square(f"t{i}", 0, 0)), auto_activate=False).version
        for i in range(6)
    ]
    results: dict[str, str] = {}

    def go(version: str) -> None:
        mine = TerritoryStore(
            boto3.client("s3", region_name="us-east-1"),
            boto3.client("dynamodb", region_name="us-east-1"),
            BUCKET,
            TABLE,
        )
        try:
            mine.activate(version)
            results[version] = "ok"
        except ActivationConflict:
            results[version] = "conflict"

    threads = [threading.Thread(target=go, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    active = store.get_active().version
    assert results[active] == "ok"
    statuses = {v.version: v.status for v in store.list_versions()}
    assert [v for v, s in statuses.items() if s == "ACTIVE"] == [active]
    history = store.get_active_record().get("history", [])
    assert len(history) == len(set(history)) and active not in history


def test_retried_event_is_idempotent(store):
    body = geojson(square("one", 0, 0))
    first = upload(store, "territories/1.geojson", body)
    again = process_territory_upload(BUCKET, "territories/1.geojson", store=store)
    assert again.duplicate and again.version == first.version
    assert len(store.list_versions()) == 1


def test_too_large_upload_is_rejected_without_reading_it(store):
    outcome = upload(
        store,
        "territories/big.geojson",
        geojson(square("one", 0, 0)),
        options=ValidationOptions(max_file_bytes=50),
    )
    assert not outcome.valid and outcome.status == "REJECTED"
    report = json.loads(store.load_bytes(outcome.report_key))
    assert (
        "file too large" in report["errors"][0]["reason"]
        and "MAX_FILE_BYTES" in report["errors"][0]["reason"]
    )
    assert store.get_active() is None


def test_folder_marker_is_ignored(store):
    store.s3.put_object(Bucket=BUCKET, Key="territories/", Body=b"")
    outcome = process_territory_upload(BUCKET, "territories/", store=store)
    assert outcome.status == "IGNORED" and not outcome.valid and outcome.version == ""
    assert store.list_versions() == []


def test_a_broken_map_never_blocks_a_valid_set(store, monkeypatch):
    from territory_router.services import territory_upload

    def boom(report, title):
        raise RuntimeError("no map today")

    monkeypatch.setattr(territory_upload, "_render_map", boom)
    outcome = upload(store, "territories/a.geojson", geojson(square("a", 0, 0)))
    assert outcome.activated and outcome.map_key is None
    assert outcome.warnings == 1
    report = json.loads(store.load_bytes(outcome.report_key))
    assert "map could not be drawn: no map today" in report["warnings"][0]["reason"]
    assert outcome.summary()["version"] == outcome.version


def test_block_csv_upload_is_validated_compiled_versioned_and_drawn_with_its_blocks(store):
    from territory_router.domain.leads import Lead
    from territory_router.tagging.triage import Tagger, TaggingConfig

    rows = ["territory_id,territory_name,block_type,block_id", "front-range,Front Range,county,08031",
            "front-range,Front Range,county,08005", "rest-of-co,Rest of Colorado,state,CO",
            "zips,Salt Lake ZIPs,zip3,841"]  # fmt: skip
    outcome = upload(store, "territories/blocks.csv", ("\n".join(rows) + "\n").encode())
    assert outcome.valid and outcome.activated, outcome.summary()
    assert (outcome.territories, outcome.overlaps) == (3, 2)  # Denver and Arapahoe listed twice: one per block
    report = json.loads(store.load_bytes(outcome.report_key))
    assert sorted(o["block"] for o in report["overlaps"]) == [
        "county 08005 (Arapahoe, CO)", "county 08031 (Denver, CO)"]  # fmt: skip
    html = store.load_bytes(outcome.map_key).decode()
    block_layer = re.search(r'<g id="blocks"[^>]*>(.*?)</g>', html).group(1)
    # every Colorado county and the Salt Lake ZIP3 area, faintly, under the territories
    assert block_layer.count('class="block"') == 64 + 1
    assert 'class="context context-land"' in html

    index = TerritoryIndex.from_bytes(store.load_bytes(outcome.index_key))
    tagger = Tagger(index, TaggingConfig())
    denver = Lead(lead_id="00Q000000000001AAA", latitude=39.74, longitude=-104.99)
    pueblo = Lead(lead_id="00Q000000000002AAA", latitude=38.25, longitude=-104.6)
    salt_lake = Lead(lead_id="00Q000000000003AAA", postal_code="84101", country="US")
    tags = tagger.tag_many([denver, pueblo, salt_lake])
    assert [t.territory_id for t in tags] == ["front-range", "rest-of-co", "zips"]


def test_block_csv_with_an_unknown_county_is_rejected_and_says_which_line(store):
    body = b"territory_id,territory_name,block_type,block_id\na,A,county,08031\na,A,county,99999\n"
    outcome = upload(store, "territories/bad-blocks.csv", body)
    assert not outcome.valid and outcome.status == "REJECTED"
    record = store.get_version(outcome.version)
    assert record.errors[0]["reason"] == "line 3: county '99999' is not a US county FIPS code (5 digits, e.g. 08031)"
