"""Every CLI failure as one line a user can act on: no stack, no credentials, AWS refusals, bad files.

``main`` catches whatever a command lets through and prints ``territory-router: <what went wrong>`` on stderr with
a non-zero exit; ``TERRITORY_ROUTER_DEBUG=1`` adds the traceback for a bug report.
"""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit

from territory_router_tools.cli.stack import DEFAULT_STACK_FILE, StackNotFound, is_loopback


class CliParser(argparse.ArgumentParser):
    """argparse with a one-line error: ``<prog>: error: <message> (see <prog> --help)``.

    ``add_subparsers`` builds its sub-parsers with the parent's class, so every command inherits it.
    """

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def describe_failure(exc: BaseException) -> str:
    """What went wrong, in one line, with what to do about it where we know."""
    from botocore import exceptions as bc

    if isinstance(exc, StackNotFound):
        return _one_line(exc)
    if isinstance(exc, bc.NoCredentialsError | bc.PartialCredentialsError):
        return (
            "no AWS credentials for the deployed stack: configure them (`aws configure`, AWS_PROFILE or the "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables), or use the local stack (`territory-router local up`)"
        )
    if isinstance(exc, bc.NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, bc.EndpointConnectionError | bc.ConnectTimeoutError | bc.ConnectionClosedError):
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url") or ""
        if is_loopback(endpoint):
            return (
                f"no local stack is answering at {urlsplit(endpoint).netloc}: start it with `territory-router local up` "
                f"(or delete a stale {DEFAULT_STACK_FILE})"
            )
        return f"cannot reach AWS at {endpoint or 'its endpoint'}: {_one_line(exc)}"
    if isinstance(exc, bc.ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), _one_line(error.get("Message", ""))
        operation = getattr(exc, "operation_name", "the request")
        if code == "ValidationError" and "does not exist" in message:
            return f"{message} (check --stack-name and --region)"
        if code in {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
                    "SignatureDoesNotMatch", "AccessDenied", "AccessDeniedException"}:
            return f"AWS refused {operation}: {code}: {message} (check your credentials and their permissions)"
        return f"AWS refused {operation}: {code}: {message}"
    if isinstance(exc, bc.BotoCoreError):
        return f"AWS SDK error: {_one_line(exc)}"
    if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
        return f"cannot read {exc.filename}: {exc.strerror}"
    if isinstance(exc, OSError):
        return _one_line(exc.strerror or exc)
    if isinstance(exc, ValueError | KeyError):
        return _one_line(exc)
    return f"unexpected error ({type(exc).__name__}): {_one_line(exc)} (TERRITORY_ROUTER_DEBUG=1 shows the traceback)"
