"""One Salesforce id rule (domain/ids.py): the roster's old converter and the ids module disagreed at the edges.

``assignment.roster.sf_id18`` trimmed blanks and raised ``ValueError``; ``salesforce.ids.to_18`` (now ``domain.ids``) did not trim and
raised ``TypeError`` for ``None``. Now the roster (and the CLI) read typed ids with ``to_18_from_text``, the rest of
the code reads ids with the strict ``to_18``, and both share one checksum.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from territory_router.assignment import roster
from territory_router.domain.ids import (
    InvalidSalesforceId,
    record_key,
    same_id,
    to_15,
    to_18,
    to_18_from_text,
)

ID15, ID18 = "001A0000006Vm9r", "001A0000006Vm9rIAC"  # published example of the conversion


def test_the_roster_reads_ids_with_the_one_rule() -> None:
    assert roster.sf_id18 is to_18_from_text
    assert (roster.USER_PREFIX, roster.QUEUE_PREFIX) == ("005", "00G")


def test_typed_ids_may_carry_blanks_read_ids_may_not() -> None:
    # Former disagreement: the roster accepted " id ", the ids module refused it.
    assert to_18_from_text(f"  {ID15}\t") == ID18
    assert roster.sf_id18(f" {ID18} ") == ID18
    with pytest.raises(InvalidSalesforceId):
        to_18(f" {ID15} ")


@pytest.mark.parametrize("bad", [None, 42, "", "   ", "00Q", "00Qxx' OR Name != '", "001A0000006Vm9rIA"])
def test_anything_else_is_refused_with_a_value_error(bad) -> None:
    # Former disagreement: to_18(None) raised TypeError (slicing None for the message), the roster ValueError.
    for convert in (to_18, to_15, to_18_from_text, roster.sf_id18):
        with pytest.raises(InvalidSalesforceId) as caught:
            convert(bad)
        assert isinstance(caught.value, ValueError)
        assert "not a Salesforce id" in str(caught.value)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=15, max_size=15))
def test_both_forms_name_the_same_record(id15: str) -> None:
    id18 = to_18(id15)
    assert to_18_from_text(id15) == id18 == to_18(id18)
    assert to_15(id18) == id15 == record_key(id18) == record_key(id15)
    assert same_id(id15, id18)
