"""Tooling: see territory_router_tools."""
