"""The compiled index survives a trip through S3 (as the upload function stores it and the tagger reads it)."""

from __future__ import annotations

import boto3
from shapely.geometry import box

from territory_router.domain import Lead, TagMethod, Territory, TerritorySet
from territory_router.tagging.index import TerritoryIndex, compile_index
from territory_router.tagging.triage import Tagger, TaggingConfig


def test_index_bytes_round_trip_through_s3(aws_endpoint):
    territory_set = TerritorySet(
        (
            Territory("TX", "Texas", geometry=box(-106, 26, -94, 36), regions=frozenset({("US", "TX")})),
            Territory("ZIP", "ZIPs", postal_codes=frozenset({("US", "94105")})),
            Territory("CATCH", "Catch-all"),
        ),
        catch_all_territory_id="CATCH",
    )
    blob = compile_index(territory_set)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="territories")
    s3.put_object(
        Bucket="territories", Key="compiled/v1.idx", Body=blob, ContentType="application/octet-stream"
    )
    loaded = s3.get_object(Bucket="territories", Key="compiled/v1.idx")["Body"].read()
    assert loaded == blob

    tagger = Tagger(TerritoryIndex.from_bytes(loaded), TaggingConfig())
    leads = [
        Lead(lead_id="00Q000000000000001", latitude=30.0, longitude=-100.0),
        Lead(lead_id="00Q000000000000002", postal_code="94105-0001"),
        Lead(lead_id="00Q000000000000003", latitude=0.0, longitude=0.0),
    ]
    assert [(r.territory_id, r.method) for r in tagger.tag_many(leads)] == [
        ("TX", TagMethod.POLYGON),
        ("ZIP", TagMethod.POSTAL_CODE),
        ("CATCH", TagMethod.CATCH_ALL),
    ]
