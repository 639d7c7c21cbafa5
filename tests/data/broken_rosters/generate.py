"""Writes the broken roster corpus (run from anywhere: ``python tests/data/broken_rosters/generate.py``).

Each file is wrong in one way an admin could plausibly upload; ``expected.json`` maps the file name to a substring
of the reason ``parse_roster`` / the roster upload must give. ``tests/integration/reliability/test_bad_input.py``
uploads every file through the real RosterUploadFunction and checks the active roster and counters stay put.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
REP_1, REP_2 = "0058c00000JUcKkAAL", "0058c00000HnVm4AAF"
QUEUE = "00G8c000003Rtq9EAC"

BASE = {
    "default_fallback_owner": QUEUE,
    "reps": [
        {"rep_id": REP_1, "name": "Ava Chen", "capacity": 10},
        {"rep_id": REP_2, "name": "Ben Ortiz", "capacity": 10},
    ],
    "groups": [
        {"group_id": "WEST", "territories": ["WEST"], "members": [REP_1, REP_2], "strategy": "round_robin"},
    ],
}
CSV_HEADER = "rep_id,name,capacity,territories\n"


def doc(**changes):
    d = copy.deepcopy(BASE)
    for path, value in changes.items():
        target = d
        *parents, last = path.split("__")
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return json.dumps(d, indent=2).encode()


_DELETE = object()

CASES: dict[str, tuple[bytes, str]] = {
    "not_json.json": (b'{"reps": [', "invalid JSON"),
    "json_array.json": (b"[]", "the JSON must be one object"),
    "not_utf8.json": (b'{"reps": [{"name": "Jos\xe9"}]}', "not UTF-8 text"),
    "unknown_extension.txt": (doc(), "roster files are .json or .csv"),
    "reps_not_a_list.json": (doc(reps={"rep": 1}), "reps must be a list"),
    "rep_not_an_object.json": (doc(reps__1="Ben Ortiz"), "each rep must be an object"),
    "groups_not_a_list.json": (doc(groups="WEST"), "groups must be a list"),
    "rep_listed_twice.json": (doc(reps__1__rep_id=REP_1), "listed twice"),
    "member_not_a_rep.json": (doc(groups__0__members=[REP_1, "0058c00000zzzzzAAA"]), "is not a rep of this roster"),
    "overflow_group_missing.json": (doc(groups__0__overflow_group="EAST"), "does not exist"),
    "overflow_group_itself.json": (doc(groups__0__overflow_group="WEST"), "points to itself"),
    "unknown_strategy.json": (doc(groups__0__strategy="coin_flip"), "strategy"),
    "negative_capacity.json": (doc(reps__0__capacity=-3), "capacity"),
    "capacity_not_a_number.json": (doc(reps__0__capacity="lots"), "capacity"),
    "rep_id_not_salesforce.json": (doc(reps__0__rep_id="ava.chen"), "rep_id"),
    "unknown_time_zone.json": (
        doc(reps__0__working_hours={"tz": "Mars/Olympus_Mons", "days": "Mon-Fri", "start": "08:00", "end": "18:00"}),
        "Mars/Olympus_Mons",
    ),
    "fallback_owner_not_an_id.json": (doc(default_fallback_owner="the sales team"), "not a Salesforce id"),
    "bad_version.json": (doc(version="../../etc/passwd"), "version must be"),
    "empty.csv": (b"", "empty file"),
    "csv_without_rep_id.csv": (b"name,capacity\nAva Chen,10\n", "a rep_id column is required"),
    "csv_capacity_not_a_number.csv": (CSV_HEADER.encode() + f"{REP_1},Ava Chen,ten,WEST\n".encode(),
                                      "capacity must be a whole number"),
    "csv_bad_out_of_office.csv": (
        b"rep_id,name,capacity,territories,out_of_office\n" + f"{REP_1},Ava Chen,10,WEST,next week\n".encode(),
        "use START..END",
    ),
}


def main() -> None:
    expected = {}
    for name, (data, reason) in CASES.items():
        (HERE / name).write_bytes(data)
        expected[name] = reason
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
