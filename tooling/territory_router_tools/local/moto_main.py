"""``python -m territory_router_tools.local.moto_main -H HOST -p PORT``: moto's server with our DynamoDB fixes."""

from __future__ import annotations

from territory_router_tools.local import moto_patches


def main() -> None:
    moto_patches.apply()
    import logging

    # One access-log line per request costs the emulator time the pipeline could use.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # HTTP/1.1 keep-alive: without it every boto3 call opens a new TCP connection and the server a new thread.
    from werkzeug.serving import WSGIRequestHandler

    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    from moto.server import main as moto_server_main

    moto_server_main()


if __name__ == "__main__":
    main()
