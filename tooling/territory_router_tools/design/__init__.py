"""Territory design (admin tooling, never shipped to Lambda): building-block graphs, the balance report, balanced
contiguous proposals (GerryChain) and the map editor.

Needs the ``design`` extra (``pip install 'territory-router[design]'``: gerrychain, networkx). Only the CLI imports
this package; the runtime compiles block CSVs with ``territories.blocks`` alone. See docs/territories.md.
"""
