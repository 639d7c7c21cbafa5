"""territory-router territories upload/list/activate/rollback against a stack (the moto server)."""

from __future__ import annotations

import json

import boto3

from territory_router_tools.cli.main import main

BUCKET = "tr-territories"
TABLE = "tr-routing"


def _stack_file(tmp_path, endpoint: str):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    path = tmp_path / "stack.json"
    path.write_text(
        json.dumps(
            {
                "region": "us-east-1",
                "endpoint": endpoint,
                "resources": {"TerritoryBucket": BUCKET, "RoutingTable": TABLE},
            }
        )
    )
    return path


def _file(tmp_path, name: str, tid: str):
    ring = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    feature = {
        "type": "Feature",
        "id": tid,
        "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    path = tmp_path / name
    path.write_text(json.dumps(feature))
    return path


def test_upload_list_activate_rollback(aws_endpoint, tmp_path, capsys):
    stack = str(_stack_file(tmp_path, aws_endpoint))
    assert main(["territories", "list", "--stack-file", stack]) == 0
    assert "no territory set versions yet" in capsys.readouterr().out

    assert (
        main(
            [
                "territories",
                "upload",
                str(_file(tmp_path, "one.geojson", "one")),
                "--process",
                "--stack-file",
                stack,
            ]
        )
        == 0
    )
    v1 = json.loads(capsys.readouterr().out.split("\n", 1)[1])["version"]
    rc = main(
        ["territories", "upload", str(_file(tmp_path, "two.geojson", "two")), "--process", "--no-activate",
         "--stack-file", stack]
    )  # fmt: skip
    assert rc == 0
    v2 = json.loads(capsys.readouterr().out.split("\n", 1)[1])["version"]

    assert main(["territories", "list", "--stack-file", stack, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["active"] == v1
    assert {v["version"]: v["status"] for v in listed["versions"]} == {v1: "ACTIVE", v2: "VALID"}

    assert main(["territories", "activate", v2, "--stack-file", stack]) == 0
    assert f"active territory set: {v2}" in capsys.readouterr().out
    assert main(["territories", "list", "--stack-file", stack]) == 0
    table = capsys.readouterr().out
    assert f"* {v2}" in table and "SUPERSEDED" in table

    assert main(["territories", "rollback", "--stack-file", stack]) == 0
    assert f"active territory set: {v1}" in capsys.readouterr().out
    assert main(["territories", "rollback", "--stack-file", stack]) == 1
    assert "no earlier active territory set" in capsys.readouterr().err
    assert main(["territories", "activate", "nope", "--stack-file", stack]) == 1
    assert "does not exist" in capsys.readouterr().err
