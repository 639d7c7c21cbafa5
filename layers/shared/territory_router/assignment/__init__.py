"""Who gets a lead: roster, eligibility, strategies, SLA, the decision trail, and the assignment services.

Pure modules (no boto3, no environment): ``roster``, ``eligibility``, ``strategies``, ``engine``, ``sla``,
``records``. ``service`` (assign, release, mark attended) and ``reroute`` orchestrate them through a store passed
in by the caller (``territory_router.adapters.routing_store.RoutingStore``). See docs/assignment.md and
docs/rerouting.md.
"""
