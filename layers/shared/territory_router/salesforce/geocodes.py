"""A lead's location changing after it was taken in: Salesforce's late geocode, or an address edit.

Salesforce fills ``Latitude``/``Longitude`` (and ``GeocodeAccuracy``) only when its geocode clean rules are on, and
then a little after the record is saved, as a separate UPDATE of the ``Address`` compound field (Change Data
Capture sends the changed components: ``Address.Latitude`` ... flattened by ``events`` to ``Latitude``). Such an
UPDATE is classified ``GEOCODED`` by ``lifecycle.classify_update`` and applied by intake: the stored lead gets the
new location (:func:`relocated`) and is tagged again (docs/salesforce.md, "Late geocodes").

Pure: no boto3, no environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from territory_router.domain.leads import Lead
from territory_router.salesforce.events import _LEAD_FIELD_MAP, InvalidEvent, _coordinate, _text

_LOCATION_ATTRIBUTES = frozenset({"latitude", "longitude", "street", "city", "state", "postal_code", "country"})
# Lead field API names of the Address compound -> Lead attribute (the parser's own map, location part).
# StateCode/CountryCode win over State/Country.
LOCATION_FIELDS: dict[str, str] = {k: v for k, v in _LEAD_FIELD_MAP.items() if v in _LOCATION_ATTRIBUTES}
GEOCODE_ACCURACY = "GeocodeAccuracy"  # kept in Lead.sf_fields: the tagger lowers the precision by it


def location_changed(changed: Mapping[str, Any]) -> bool:
    """Does this UPDATE change where the lead is?"""
    return GEOCODE_ACCURACY in changed or any(name in changed for name in LOCATION_FIELDS)


def _value(name: str, attr: str, raw: Any) -> Any:
    try:
        if attr == "latitude":
            return _coordinate(raw, field=name, limit=90)
        if attr == "longitude":
            return _coordinate(raw, field=name, limit=180)
        return _text(raw, field=name)
    except InvalidEvent:
        return None  # a value we cannot read is no location: never a reason to lose the lead


def relocated(lead: Lead, changed: Mapping[str, Any]) -> Lead:
    """``lead`` with the location fields of ``changed`` applied (a field set to null clears it)."""
    values = lead.model_dump()
    for name, attr in LOCATION_FIELDS.items():
        if name not in changed:
            continue
        code = f"{name}Code"
        if code in LOCATION_FIELDS and changed.get(code) not in (None, ""):
            continue  # the picklist code wins over the free text
        values[attr] = _value(name, attr, changed[name])
    if (values.get("latitude") is None) != (values.get("longitude") is None):
        values["latitude"] = values["longitude"] = None  # half a coordinate is no coordinate
    sf_fields = dict(lead.sf_fields)
    if GEOCODE_ACCURACY in changed:
        accuracy = changed[GEOCODE_ACCURACY]
        if isinstance(accuracy, str) and accuracy.strip():
            sf_fields[GEOCODE_ACCURACY] = accuracy.strip()
        else:
            sf_fields.pop(GEOCODE_ACCURACY, None)
    values["sf_fields"] = sf_fields
    return Lead.model_validate(values)
