"""LeadRerouteFunction orchestration: re-route or escalate the leads whose SLA ran out.

The handler calls ``reroute_due_leads(store=..., now=..., max_reroutes=settings.max_reroutes)`` and puts one
``LeadRerouted`` event per ``report.rerouted`` detail and one ``LeadEscalated`` per ``report.escalated`` detail.
"""

from __future__ import annotations

from territory_router.assignment.reroute import RerouteReport, reroute_due_leads

__all__ = ["RerouteReport", "reroute_due_leads"]
