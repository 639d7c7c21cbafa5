"""Territory files: formats, per-feature validation and repair, overlaps, gaps, diff and the HTML map.

Entry points: ``validate.validate_files`` (files -> ``ValidationReport`` with a ``TerritorySet`` when usable),
``mapping.render_map_html``, ``diff.diff_sets``. Pure: no boto3, no environment. See docs/territories.md.
"""
