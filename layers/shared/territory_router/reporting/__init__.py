"""Performance by territory: daily aggregates kept as events happen, and the HTML/CSV/JSON report built from them.

``aggregates`` (pure) turns one app-bus event into counter increments; ``model`` (pure) builds the report from
aggregate items, the active territories and the roster; ``render`` (pure) writes HTML with inline SVG;
``run`` reads a stack through the adapters and writes the report files.
"""
