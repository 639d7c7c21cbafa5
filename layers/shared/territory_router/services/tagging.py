"""Tagging: a whole SQS batch of leads tagged at once against the active territory set."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from territory_router.adapters.lead_repository import LeadRepository
from territory_router.domain.leads import Lead, LeadStatus, TagMethod, TagResult
from territory_router.domain.messages import AssignRequest, RetagRequest, TagRequest

if TYPE_CHECKING:  # the tagger's modules (numpy, shapely) load with the first index, not with this module
    from territory_router.adapters.geocoder_location import LocationServiceGeocoder
    from territory_router.tagging.triage import Tagger

log = logging.getLogger(__name__)


class TaggingSettings(Protocol):
    """What the tagger is configured from (``config.LeadTaggingSettings``)."""

    @property
    def nearest_tolerance_km(self) -> float: ...

    @property
    def catch_all_territory_id(self) -> str | None: ...

    @property
    def place_index_name(self) -> str | None: ...

    @property
    def geocode_budget_per_batch(self) -> int: ...


class ActiveTaggerCache:
    """The tagger for the active territory set, kept warm across invocations of a container.

    Each batch reads the active pointer (one small GetItem) and reloads the compiled index only when the
    active version changed.
    """

    def __init__(
        self,
        get_active: Callable[[], tuple[str, str] | None],
        load_bytes: Callable[[str], bytes],
        build: Callable[[bytes], Tagger],
    ) -> None:
        self._get_active = get_active
        self._load_bytes = load_bytes
        self._build = build
        self._lock = threading.Lock()
        self.version: str | None = None
        self.tagger: Tagger | None = None
        self.loads = 0

    def current(self) -> tuple[str | None, Tagger | None]:
        active = self._get_active()
        if active is None:
            return None, None
        version, index_key = active
        with self._lock:
            if version != self.version:
                self.tagger = self._build(self._load_bytes(index_key))
                self.version = version
                self.loads += 1
                log.info("territory index loaded", extra={"territory_version": version})
            return self.version, self.tagger


@dataclass
class TaggedLead:
    request: TagRequest
    tag: TagResult


def tag_requests(requests: Sequence[TagRequest], tagger: Tagger | None) -> list[TaggedLead]:
    """Tag every lead of the batch in one vectorised call. No active set → UNTAGGED with the reason."""
    if not requests:
        return []
    if tagger is None:
        tag = TagResult(territory_id=None, method=TagMethod.UNTAGGED, note="no active territory set")
        return [TaggedLead(r, tag) for r in requests]
    tags = tagger.tag_many([r.lead for r in requests])
    return [TaggedLead(r, t) for r, t in zip(requests, tags, strict=True)]


def stamp_and_forward(
    tagged: TaggedLead,
    *,
    leads: LeadRepository,
    send: Callable[[str, str], None],
    now: datetime,
) -> str:
    """Stamp the territory on the lead record and queue it for assignment. Safe to repeat."""
    lead_id = tagged.request.lead.lead_id
    if not leads.mark_tagged(lead_id, tagged.tag, now=now):
        existing = leads.get(lead_id)
        if existing is None:
            # Intake writes the record before queueing, so this is a lead deleted meanwhile: nothing to do.
            return "missing"
        if existing.get("status") != LeadStatus.TAGGED.value:
            return "already_" + str(existing.get("status", "unknown")).lower()
        # Redelivery after the stamp but before the send: use the stored stamp, send again.
        stored = TagResult(
            territory_id=existing.get("territory_id"),
            territory_name=existing.get("territory_name"),
            method=TagMethod(existing.get("tag_method", TagMethod.UNTAGGED.value)),
            note=existing.get("tag_note", ""),
            precision=existing.get("tag_precision"),
        )
        tagged = TaggedLead(tagged.request, stored)
    send(lead_id, AssignRequest(lead=tagged.request.lead, tag=tagged.tag).model_dump_json())
    return "forwarded"


def parse_tagging_message(body: str) -> TagRequest | RetagRequest:
    """A TaggingQueue message: a lead taken in (TagRequest) or a known lead to tag again (RetagRequest, after a late
    geocode). Raises pydantic's ``ValidationError`` for anything else."""
    if '"retag_reason"' in body and '"lead"' not in body:
        return RetagRequest.model_validate_json(body)
    return TagRequest.model_validate_json(body)


def requests_for_retags(
    retags: dict[str, RetagRequest], *, leads: LeadRepository
) -> tuple[dict[str, TagRequest], dict[str, str]]:
    """The stored lead of each RetagRequest (with the location intake just recorded), as a TagRequest to tag with
    the rest of the batch; and the message ids to drop, with why (a lead unknown or closed)."""
    found: dict[str, TagRequest] = {}
    dropped: dict[str, str] = {}
    for message_id, retag in retags.items():
        item = leads.get_full(retag.lead_id)  # with the detail item: an assigned lead's PII lives there
        if item is None or not item.get("lead"):
            dropped[message_id] = "lead not known"
            continue
        if item.get("status") in (LeadStatus.CLOSED.value, LeadStatus.DELETED.value):
            dropped[message_id] = f"lead is {str(item.get('status')).lower()}"
            continue
        lead = Lead.model_validate({**item["lead"], "lead_id": retag.lead_id})
        found[message_id] = TagRequest(lead=lead, received_at=retag.requested_at, source_event_id=retag.source_event_id)
    return found, dropped


def forward_retag(tagged: TaggedLead, *, leads: LeadRepository, send: Callable[[str, str], None], now: datetime) -> str:
    """A lead tagged again after a late geocode: not yet tagged -> the normal path; otherwise the assignment
    function decides (assign, move, or refine the stamp) from an AssignRequest marked ``retag_reason``."""
    lead_id = tagged.request.lead.lead_id
    item = leads.get(lead_id)
    if item is None:
        return "missing"
    if item.get("status") == LeadStatus.RECEIVED.value:
        return stamp_and_forward(tagged, leads=leads, send=send, now=now)
    if item.get("status") in (LeadStatus.CLOSED.value, LeadStatus.DELETED.value):
        return "already_" + str(item.get("status")).lower()
    request = AssignRequest(lead=tagged.request.lead, tag=tagged.tag, retag_reason="GEOCODED")
    send(lead_id, request.model_dump_json())
    return "forwarded_retag"


def build_tagger(index_bytes: bytes, settings: TaggingSettings) -> Tagger:
    """The triage tagger over a compiled index, configured from the function settings."""
    from territory_router.tagging.index import TerritoryIndex
    from territory_router.tagging.triage import Tagger, TaggingConfig

    return Tagger(
        TerritoryIndex.from_bytes(index_bytes),
        TaggingConfig(
            nearest_tolerance_km=settings.nearest_tolerance_km,
            catch_all_territory_id=settings.catch_all_territory_id,
            geocoder=geocoder_for(settings),
            geocode_budget_per_batch=settings.geocode_budget_per_batch,
        ),
    )


def geocoder_for(settings: TaggingSettings) -> LocationServiceGeocoder | None:
    """The Amazon Location geocoder when the stack has one (``PLACE_INDEX_NAME``), else None. Its boto3 client is
    created on the first look-up, so a stack without one never imports or builds it."""
    index = settings.place_index_name
    if not index:
        return None
    from territory_router.adapters import aws
    from territory_router.adapters.geocoder_location import LocationServiceGeocoder

    return LocationServiceGeocoder(lambda: aws.client("location"), index, countries=["USA", "CAN"])
