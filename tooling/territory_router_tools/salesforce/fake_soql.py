"""The SOQL subset the test org (``fake_org.FakeOrg``) answers: what Territory Router sends, and nothing more.

Supported, with SOQL's own syntax and case-insensitive keywords and field names:

    SELECT f1, f2, ... FROM Lead|Task|Event
    [WHERE cond AND cond ...]      cond: f IN (...) | f NOT IN (...) | f = v | f != v | f <> v | f < v | f <= v
                                         | f > v | f >= v        v: 'text' | number | true | false | null
                                         | 2026-03-01T12:00:00Z (datetime literal, Z or ±hh:mm) | 2026-03-01 (date)
    [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
    [LIMIT n]

Anything else (OR, parentheses, functions, relationship fields, sub-queries, GROUP BY, OFFSET ...) is refused with
``MALFORMED_QUERY``, an unknown field with ``INVALID_FIELD`` and an unknown object with ``INVALID_TYPE``, in the
error shapes of the REST API (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/).
The test org is tooling: no handler imports this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any


class SoqlError(Exception):
    """A query Salesforce would refuse: ``code`` is the REST ``errorCode``."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
      | (?P<date>\d{4}-\d{2}-\d{2})(?![\dT])
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),*])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"select", "from", "where", "and", "or", "not", "in", "order", "by", "asc", "desc", "nulls", "first",
             "last", "limit", "true", "false", "null", "offset", "group", "having", "like", "includes", "excludes",
             "with", "for", "using"}


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # in, not in, =, !=, <, <=, >, >=
    value: Any  # a list for IN / NOT IN


@dataclass(frozen=True)
class Order:
    field: str
    descending: bool = False
    nulls_last: bool | None = None  # None: SOQL's default (nulls first ascending, last descending)


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    sobject: str
    where: tuple[Condition, ...] = ()
    order_by: tuple[Order, ...] = ()
    limit: int | None = None


@dataclass
class _Tokens:
    items: list[tuple[str, str]]
    pos: int = 0
    text: str = field(default="")

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def next(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        self.pos += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() in words:
            self.pos += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            token = self.peek()
            raise SoqlError("MALFORMED_QUERY", f"expecting {word.upper()}, found {token[1] if token else 'nothing'!r}")


def _tokenize(text: str) -> _Tokens:
    items: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind is None:
            continue
        value = match.group(kind)
        if kind == "bad":
            raise SoqlError("MALFORMED_QUERY", f"unexpected character {value!r}")
        items.append((kind, value))
    return _Tokens(items, text=text)


def _unsupported(what: str) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", f"{what} is not supported by the test org's SOQL subset")


def _literal(tokens: _Tokens) -> Any:
    kind, value = tokens.next()
    if kind == "string":
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), value[1:-1])
    if kind == "datetime":
        text = value.replace("Z", "+00:00")
        if re.search(r"[+-]\d{4}$", text):
            text = text[:-2] + ":" + text[-2:]
        return datetime.fromisoformat(text).astimezone(UTC)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "number":
        return float(value) if "." in value else int(value)
    if kind == "word" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kind == "word" and value.lower() == "null":
        return None
    raise SoqlError("MALFORMED_QUERY", f"unexpected token {value!r}: expecting a literal value")


def _field_name(tokens: _Tokens, known: Mapping[str, str]) -> str:
    kind, value = tokens.next()
    if kind != "word" or value.lower() in _KEYWORDS:
        raise SoqlError("MALFORMED_QUERY", f"unexpected token {value!r}: expecting a field name")
    if "." in value:
        raise _unsupported("a relationship field")
    peek = tokens.peek()
    if peek and peek == ("punct", "("):
        raise _unsupported("a function")
    canonical = known.get(value.lower())
    if canonical is None:
        raise SoqlError("INVALID_FIELD", f"No such column '{value}' on entity. If you are attempting to use a custom "
                                         "field, be sure to append the '__c' after the custom field name.")
    return canonical


def parse(text: str, fields_of: Callable[[str], Iterable[str] | None]) -> Query:
    """Parse ``text``; ``fields_of(sobject)`` gives the object's field names (None: not a known object)."""
    if len(text) > 100_000:
        raise SoqlError("MALFORMED_QUERY", "query is longer than 100,000 characters")
    tokens = _tokenize(text)
    tokens.expect_keyword("select")
    raw_fields: list[str] = []
    while True:
        kind, value = tokens.next()
        if kind == "punct" and value == "(":
            raise _unsupported("a sub-query")
        if kind != "word" or value.lower() in _KEYWORDS:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token {value!r} in the SELECT list")
        raw_fields.append(value)
        if tokens.peek() == ("punct", "("):
            raise _unsupported("a function")
        if tokens.peek() == ("punct", ","):
            tokens.next()
            continue
        break
    tokens.expect_keyword("from")
    kind, sobject = tokens.next()
    if kind != "word":
        raise SoqlError("MALFORMED_QUERY", "expecting an object name after FROM")
    names = fields_of(sobject)
    if names is None:
        raise SoqlError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
    known = {n.lower(): n for n in names}
    canonical_object = next((o for o in ("Lead", "Task", "Event") if o.lower() == sobject.lower()), sobject)
    fields = []
    for raw in raw_fields:
        if "." in raw:
            raise _unsupported("a relationship field")
        name = known.get(raw.lower())
        if name is None:
            raise SoqlError("INVALID_FIELD", f"No such column '{raw}' on entity '{canonical_object}'. If you are "
                                             "attempting to use a custom field, be sure to append the '__c' after the "
                                             "custom field name.")
        fields.append(name)
    if len(set(fields)) != len(fields):
        raise SoqlError("MALFORMED_QUERY", "duplicate field selected")
    where: list[Condition] = []
    order: list[Order] = []
    limit: int | None = None
    if tokens.keyword("where"):
        while True:
            if tokens.peek() == ("punct", "("):
                raise _unsupported("a parenthesised condition")
            if tokens.keyword("not"):
                raise _unsupported("NOT before a condition")
            name = _field_name(tokens, known)
            if tokens.keyword("in"):
                where.append(Condition(name, "in", _list(tokens)))
            elif tokens.keyword("not"):
                tokens.expect_keyword("in")
                where.append(Condition(name, "not in", _list(tokens)))
            else:
                kind, op = tokens.next()
                if kind == "word" and op.lower() in ("like", "includes", "excludes"):
                    raise _unsupported(op.upper())
                if kind != "op":
                    raise SoqlError("MALFORMED_QUERY", f"unexpected token {op!r}: expecting an operator")
                where.append(Condition(name, "!=" if op == "<>" else op, _literal(tokens)))
            if tokens.keyword("and"):
                continue
            if tokens.keyword("or"):
                raise _unsupported("OR")
            break
    if tokens.keyword("order"):
        tokens.expect_keyword("by")
        while True:
            name = _field_name(tokens, known)
            descending = False
            if tokens.keyword("desc"):
                descending = True
            else:
                tokens.keyword("asc")
            nulls_last = None
            if tokens.keyword("nulls"):
                if tokens.keyword("first"):
                    nulls_last = False
                elif tokens.keyword("last"):
                    nulls_last = True
                else:
                    raise SoqlError("MALFORMED_QUERY", "expecting FIRST or LAST after NULLS")
            order.append(Order(name, descending, nulls_last))
            if tokens.peek() == ("punct", ","):
                tokens.next()
                continue
            break
    if tokens.keyword("limit"):
        kind, value = tokens.next()
        if kind != "number" or "." in value or int(value) < 0:
            raise SoqlError("MALFORMED_QUERY", "LIMIT needs a non-negative integer")
        limit = int(value)
    leftover = tokens.peek()
    if leftover is not None:
        word = leftover[1]
        if word.lower() in _KEYWORDS:
            raise _unsupported(word.upper())
        raise SoqlError("MALFORMED_QUERY", f"unexpected token {word!r}")
    return Query(tuple(fields), canonical_object, tuple(where), tuple(order), limit)


def _list(tokens: _Tokens) -> list[Any]:
    kind, value = tokens.next()
    if (kind, value) != ("punct", "("):
        raise SoqlError("MALFORMED_QUERY", "expecting '(' after IN")
    if tokens.keyword("select"):
        raise _unsupported("a semi-join sub-query")
    values = []
    while True:
        values.append(_literal(tokens))
        kind, value = tokens.next()
        if (kind, value) == ("punct", ")"):
            return values
        if (kind, value) != ("punct", ","):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token {value!r} in an IN list")


# ------------------------------------------------------------------------------------------------ evaluation


def _comparable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return value.lower()  # SOQL compares text case-insensitively
    return value


def _same_id(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and len(a) in (15, 18) and len(b) in (15, 18) and a[:15] == b[:15]


def _equal(record_value: Any, literal: Any) -> bool:
    if literal is None or record_value is None:
        return record_value is None and literal is None
    if _same_id(record_value, literal):
        return True
    if isinstance(literal, date) and not isinstance(literal, datetime) and isinstance(record_value, datetime):
        return record_value.date() == literal
    return _comparable(record_value) == _comparable(literal)


def _compare(record_value: Any, op: str, literal: Any) -> bool:
    if op == "=":
        return _equal(record_value, literal)
    if op == "!=":
        return not _equal(record_value, literal)
    if record_value is None or literal is None:
        return False
    left, right = _comparable(record_value), _comparable(literal)
    if isinstance(right, date) and not isinstance(right, datetime) and isinstance(left, datetime):
        left = left.date()
    try:
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    except TypeError as exc:
        raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"value of filter criterion is of the wrong type: {exc}") from None


def matches(record: Mapping[str, Any], conditions: Iterable[Condition]) -> bool:
    for c in conditions:
        value = record.get(c.field)
        if c.op == "in":
            if not any(_equal(value, v) for v in c.value):
                return False
        elif c.op == "not in":
            if any(_equal(value, v) for v in c.value):
                return False
        elif not _compare(value, c.op, c.value):
            return False
    return True


def run(query: Query, records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records matching ``query``'s WHERE, in its ORDER BY, cut at its LIMIT (not projected)."""
    rows = [r for r in records if matches(r, query.where)]
    for order in reversed(query.order_by):
        nulls_last = order.nulls_last if order.nulls_last is not None else order.descending
        present = [r for r in rows if r.get(order.field) is not None]
        absent = [r for r in rows if r.get(order.field) is None]
        present.sort(key=lambda r, f=order.field: _comparable(r.get(f)), reverse=order.descending)
        rows = present + absent if nulls_last else absent + present
    return rows[: query.limit] if query.limit is not None else rows
