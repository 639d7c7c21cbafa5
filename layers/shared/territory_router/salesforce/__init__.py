"""Salesforce integration: Event Relay/CDC intake parsing (``events``), lead lifecycle rules, writeback rules, ids.

Import the modules themselves (``territory_router.salesforce.events`` ...): the package re-exports nothing, so
importing the id rule (``domain.ids``) does not load the event models with it.
"""
