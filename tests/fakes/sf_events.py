"""Builders of Event Relay envelopes for tests (the implementation ships in the package for the demo)."""

from territory_router_tools.salesforce.samples import (
    cdc_create_event,
    cdc_delete_event,
    cdc_header_only_event,
    cdc_update_event,
    platform_event,
    sample_lead,
)

__all__ = [
    "cdc_create_event",
    "cdc_delete_event",
    "cdc_header_only_event",
    "cdc_update_event",
    "platform_event",
    "sample_lead",
]
