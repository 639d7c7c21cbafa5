"""Errors of a Salesforce call, raised by the clients (the HTTP adapter, the test doubles) and understood by the
writeback, the reads before a re-route, the gap refetch and the reconciliation."""

from __future__ import annotations


class SalesforceError(Exception):
    """A Salesforce call failed. ``code`` is Salesforce's errorCode (or ``HTTP_<status>``)."""

    retryable = False

    def __init__(self, message: str, *, code: str = "UNKNOWN", status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class SalesforceRetryableError(SalesforceError):
    """Try again later: API limit reached, 5xx, timeout, network. ``retry_after`` (seconds) is a hint."""

    retryable = True

    def __init__(self, message: str, *, code: str = "UNAVAILABLE", status: int | None = None,
                 retry_after: float = 30.0):
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class SalesforceAuthError(SalesforceError):
    """The credentials are refused (bad client id/secret, no run-as user, session not renewable)."""
