"""Logging that never writes a lead's email, phone or street.

Every handler builds its powertools ``Logger`` here. The formatter redacts, at the last moment before a line is
written, any key that names personal contact data (``email``, ``phone``, ``street`` and their Salesforce API
names) wherever it is nested, and any e-mail address or phone number found inside other string values.
"""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

REDACTED = "[redacted]"
SENSITIVE_KEYS = frozenset(
    {
        "email",
        "phone",
        "mobilephone",
        "mobile_phone",
        "street",
        "address",
        "fax",
        "email__c",
        "phone__c",
        "street__c",
    }
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w-])\+?\d[\d\s().\-]{7,}\d(?![\w-])")


def redact(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` with personal contact data replaced by ``[redacted]``."""
    if _depth > 20:
        return REDACTED
    if isinstance(value, dict):
        return {
            k: (REDACTED if str(k).lower() in SENSITIVE_KEYS and v not in (None, "") else redact(v, _depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, _depth + 1) for v in value]
    if isinstance(value, str):
        return _PHONE.sub(REDACTED, _EMAIL.sub(REDACTED, value))
    return value


# Keys the formatter itself fills with machine values: left as they are (the phone pattern would otherwise eat
# the date and hour of every timestamp, "2026-11-29 00", and the account id inside the function ARN).
SAFE_KEYS = frozenset({"timestamp", "function_arn", "function_request_id", "xray_trace_id", "cold_start"})


class RedactingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: dict[str, Any]) -> str:
        clean = redact(log)
        clean.update({k: log[k] for k in SAFE_KEYS if k in log})
        return super().serialize(clean)


def make_logger(**kwargs: Any) -> Logger:
    return Logger(logger_formatter=RedactingFormatter(), **kwargs)
