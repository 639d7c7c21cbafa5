"""Territory Router tooling: the command line, the local stack, the demo, test doubles, report rendering and
territory design. Installed with the project (``pip install .``), never shipped to Lambda: the runtime package
``territory_router`` (the shared layer) must not import it (tests/infra/test_layer_contents.py, import-linter).
"""
