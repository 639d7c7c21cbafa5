"""Salesforce integration: Event Relay/CDC intake parsing, lead lifecycle rules, writeback planning."""

from territory_router.salesforce.events import (
    ChangeKind,
    EventSource,
    ForeignOrgEvent,
    InvalidEvent,
    LeadChange,
    parse_relay_event,
    parse_relay_message,
)

__all__ = [
    "ChangeKind",
    "EventSource",
    "ForeignOrgEvent",
    "InvalidEvent",
    "LeadChange",
    "parse_relay_event",
    "parse_relay_message",
]
