"""Who gets a lead: the roster, eligibility, strategies, SLA, the decision trail, and the rules that change a lead's
owner.

Pure (no boto3, no environment): ``roster`` (ids, schedule, model, document parsing), ``eligibility``,
``strategies``, ``engine`` (``decide``), ``ownership``, ``sla``, ``records``. ``ports`` says what the rules need from
storage (``LeadRoutingStore``, intent-level changes, domain errors); the rules use nothing else: ``assign``
(first assignment, kept owners), ``release`` (attended/closed/deleted), ``reroute`` (SLA re-route and escalation),
``late_geocode``, ``refused_owner``, sharing ``reassign``. Adapters implement the port
(``territory_router.adapters.lead_store``); services announce the results. See docs/assignment.md,
docs/rerouting.md and docs/architecture.md.
"""
