"""Change Data Capture channel member filter expressions: the echo filter we install, and the test org's evaluator.

Salesforce lets a channel member (``PlatformEventChannelMember.filterExpression``, API 56.0+) carry a filter, and
only the change events that match it are put on the channel; subscribers, Event Relay included, never receive the
others (docs/salesforce.md, "Filtering our own echo on the Salesforce side", cites each rule). We use it to keep our
own writeback's echo off the relay::

    ChangeEventHeader.commitUser != '<integration user id>' OR ChangeEventHeader.changeType != 'UPDATE'

that is, every change except an UPDATE saved by the integration user (which intake would ignore anyway:
``salesforce.lifecycle.classify_update`` rule 8). CREATE, DELETE, UNDELETE and ``GAP_*`` events by that user still
arrive: the expression never depends on how a missing ``commitUser`` compares, because ``changeType`` is always set.

The evaluator is the documented subset of the language, so that the test org (``fake_org.FakeOrg``) delivers what a
filtered channel delivers and refuses what Salesforce documents as invalid. What it does not implement (date and
time literals, multi-select picklists, ``NOT``) is refused with a ``FilterExpressionError`` that says so, rather than
guessed. This is tooling: no handler imports it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from territory_router.domain.ids import is_salesforce_id, to_18

HEADER = "ChangeEventHeader"
# ChangeEventHeader fields a filter may name: every scalar header field (cdc_event_fields_header).
HEADER_SCALARS = ("entityName", "changeType", "changeOrigin", "transactionKey", "sequenceNumber",
                  "commitTimestamp", "commitNumber", "commitUser")
# "You can add ChangeEventHeader fields in a filter expression, except for fields that are arrays" (cdc_filters).
HEADER_ARRAYS = ("recordIds", "changedFields", "nulledFields", "diffFields")
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=", "LIKE", "IN", "NOT IN")


class FilterExpressionError(ValueError):
    """The expression is not one Salesforce accepts (or not one this test org can judge: the message says which)."""


def echo_filter_expression(integration_user_id: str) -> str:
    """The LeadChangeEvent member filter that keeps our writeback's echo (UPDATEs saved by the integration user) off
    the channel. The id is written in its 18-character form, the form ``commitUser`` carries."""
    if not (isinstance(integration_user_id, str) and is_salesforce_id(integration_user_id)
            and integration_user_id.startswith("005")):
        raise FilterExpressionError(
            f"the integration user id must be a 15- or 18-character Salesforce user id (005...), "
            f"not {integration_user_id!r}"
        )
    user = to_18(integration_user_id)
    return f"{HEADER}.commitUser != '{user}' OR {HEADER}.changeType != 'UPDATE'"


# --------------------------------------------------------------------------------------------- parsing

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<op>!=|<=|>=|<>|=|<|>|\(|\)|,)
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<other>\S)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


@dataclass(frozen=True)
class Comparison:
    field: str  # "ChangeEventHeader.commitUser" or an entity field name
    op: str
    value: Any  # str, float, bool, None, or a tuple for IN / NOT IN


@dataclass(frozen=True)
class Logical:
    op: str  # AND / OR
    parts: tuple[Any, ...]


def _unquote(text: str) -> str:
    out, i = [], 1
    while i < len(text) - 1:
        ch = text[i]
        if ch == "\\":
            nxt = text[i + 1]
            if nxt not in _ESCAPES:
                # "You can't escape the backslash (\), underscore (_), and percent (%) characters."
                raise FilterExpressionError(f"the escape \\{nxt} is not allowed in a filter text value")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _tokens(expression: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKEN.finditer(expression):
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "other":
            raise FilterExpressionError(f"unexpected character {text!r} in the filter expression")
        out.append((kind, text))
    return out


class _Parser:
    def __init__(self, expression: str, entity_fields: Collection[str] | None) -> None:
        if not isinstance(expression, str) or not expression.strip():
            raise FilterExpressionError("the filter expression is empty")
        self.tokens = _tokens(expression)
        self.pos = 0
        self.entity_fields = {f.lower(): f for f in entity_fields} if entity_fields is not None else None

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterExpressionError("the filter expression ends too early")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1].upper() == word

    def parse(self) -> Any:
        node = self.condition()
        if self.peek() is not None:
            raise FilterExpressionError(f"unexpected {self.peek()[1]!r} in the filter expression")
        return node

    def condition(self) -> Any:
        parts = [self.operand()]
        joiner = None
        while self.keyword("AND") or self.keyword("OR"):
            word = self.take()[1].upper()
            if joiner is not None and word != joiner:
                # SOQL: AND and OR in one condition need parentheses to say which binds first.
                raise FilterExpressionError("AND and OR in the same condition need parentheses")
            joiner = word
            parts.append(self.operand())
        return parts[0] if joiner is None else Logical(joiner, tuple(parts))

    def operand(self) -> Any:
        token = self.peek()
        if token == ("op", "("):
            self.take()
            node = self.condition()
            if self.take() != ("op", ")"):
                raise FilterExpressionError("a parenthesis is not closed")
            return node
        if self.keyword("NOT") and not (self.peek(1) and self.peek(1)[1].upper() == "IN"):
            raise FilterExpressionError("NOT is not part of the documented filter language (AND, OR, comparisons)")
        return self.comparison()

    def comparison(self) -> Comparison:
        kind, name = self.take()
        if kind != "word":
            raise FilterExpressionError(f"expected a field name, found {name!r}")
        field = self.field(name)
        op = self.operator()
        if op in ("IN", "NOT IN"):
            return Comparison(field, op, self.value_list())
        value = self.value()
        if op == "LIKE" and not isinstance(value, str):
            raise FilterExpressionError("LIKE compares a Text field with a quoted pattern")
        return Comparison(field, op, value)

    def field(self, name: str) -> str:
        if "." in name:
            head, _, rest = name.partition(".")
            if head.lower() != HEADER.lower() or "." in rest:
                raise FilterExpressionError(f"{name}: only ChangeEventHeader fields are named with a dot")
            for array in HEADER_ARRAYS:
                if rest.lower() == array.lower():
                    raise FilterExpressionError(f"{name}: header fields that are arrays cannot be filtered")
            for scalar in HEADER_SCALARS:
                if rest.lower() == scalar.lower():
                    return f"{HEADER}.{scalar}"
            raise FilterExpressionError(f"{name}: no such ChangeEventHeader field")
        if self.entity_fields is not None:
            known = self.entity_fields.get(name.lower())
            if known is None:
                raise FilterExpressionError(f"{name}: no such field on the selected entity")
            return known
        return name

    def operator(self) -> str:
        kind, text = self.take()
        if kind == "op" and text in COMPARISONS:
            return text
        if kind == "op" and text == "<>":
            raise FilterExpressionError("use != for 'not equal' (<> is not a documented filter operator)")
        if kind == "word" and text.upper() in ("LIKE", "IN"):
            return text.upper()
        if kind == "word" and text.upper() == "NOT" and self.keyword("IN"):
            self.take()
            return "NOT IN"
        raise FilterExpressionError(f"expected a comparison operator, found {text!r}")

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return _unquote(text)
        if kind == "number":
            return float(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "word" and text.lower() == "null":
            return None
        if kind == "word":
            # "Enclose Text field values in single quotes ... MyTextField__c=Hello isn't valid."
            raise FilterExpressionError(f"{text}: text values go in single quotes (date literals are not supported)")
        raise FilterExpressionError(f"expected a value, found {text!r}")

    def value_list(self) -> tuple[Any, ...]:
        if self.take() != ("op", "("):
            raise FilterExpressionError("IN and NOT IN take a parenthesised list of values")
        values = [self.value()]
        while self.peek() == ("op", ","):
            self.take()
            values.append(self.value())
        if self.take() != ("op", ")"):
            raise FilterExpressionError("the IN list is not closed")
        return tuple(values)


def parse(expression: str, *, entity_fields: Collection[str] | None = None) -> Any:
    """Parse a filter expression (raises ``FilterExpressionError``). With ``entity_fields`` a field that is not
    one of them is refused, as Salesforce refuses a member whose filter names a field the entity lacks."""
    return _Parser(expression, entity_fields).parse()


# ------------------------------------------------------------------------------------------ evaluation

def _fold(value: Any, *, strip: bool) -> Any:
    """Text compares case-insensitively; the event's value arrives stripped of leading/trailing blanks, the
    filter's is taken as written (so a filter value with blanks never matches, as documented)."""
    if not isinstance(value, str):
        return value
    return (value.strip() if strip else value).lower()


def _like(value: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern.lower())
    return re.fullmatch(regex, value.strip().lower(), re.DOTALL) is not None


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        # Checkbox: only = and !=, and null counts as false.
        if op not in ("=", "!="):
            raise FilterExpressionError("Checkbox fields support only = and !=")
        same = bool(actual) == bool(expected)
        return same if op == "=" else not same
    if op in ("IN", "NOT IN"):
        hit = any(_compare(actual, "=", e) for e in expected)
        return hit if op == "IN" else not hit
    if actual is None or expected is None:
        # As in SOQL: a missing value equals only null, and is "not equal" to any value.
        same = actual is None and expected is None
        return {"=": same, "!=": not same}.get(op, False)
    if op == "LIKE":
        return isinstance(actual, str) and _like(actual, expected)
    if isinstance(expected, float):
        try:
            actual = float(actual)
        except (TypeError, ValueError):
            return False
    else:
        actual, expected = str(_fold(actual, strip=True)), _fold(expected, strip=False)
    return {"=": actual == expected, "!=": actual != expected, "<": actual < expected,
            "<=": actual <= expected, ">": actual > expected, ">=": actual >= expected}[op]


def matches(node: Any, *, header: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    """Whether a change event matches: ``header`` is its ChangeEventHeader, ``fields`` the record's values (a
    field named in a filter is enriched into the event, so the filter sees it even when it did not change)."""
    if isinstance(node, Logical):
        results = (matches(part, header=header, fields=fields) for part in node.parts)
        return all(results) if node.op == "AND" else any(results)
    if node.field.startswith(HEADER + "."):
        actual = header.get(node.field.split(".", 1)[1])
    else:
        actual = fields.get(node.field)
    return _compare(actual, node.op, node.value)


@dataclass(frozen=True)
class ChannelMember:
    """One ``PlatformEventChannelMember`` of a change data channel: the selected entity and its optional filter."""

    selected_entity: str  # e.g. LeadChangeEvent
    filter_expression: str | None = None

    def compiled(self, entity_fields: Collection[str] | None = None) -> Any:
        return parse(self.filter_expression, entity_fields=entity_fields) if self.filter_expression else None


# ------------------------------------------------------------------------------- the package's member file

LEAD_MEMBER = "platformEventChannelMembers/Territory_Router_Lead_Changes_chn_LeadChangeEvent.platformEventChannelMember-meta.xml"
_FILTER_ELEMENT = re.compile(r"\n?[ \t]*<filterExpression>.*?</filterExpression>", re.DOTALL)


def with_filter(member_xml: str, expression: str | None) -> str:
    """The member's XML with ``filterExpression`` set (or removed: None). The element goes after ``eventChannel``,
    in the Metadata API's field order (enrichedFields, eventChannel, filterExpression, selectedEntity)."""
    from xml.sax.saxutils import escape

    text = _FILTER_ELEMENT.sub("", member_xml)
    if expression is None:
        return text
    parse(expression)  # never write an expression Salesforce would refuse
    match = re.search(r"([ \t]*)<eventChannel>.*?</eventChannel>", text)
    if match is None:
        raise ValueError("the channel member has no <eventChannel>")
    element = f"\n{match.group(1)}<filterExpression>{escape(expression)}</filterExpression>"
    return text[: match.end()] + element + text[match.end():]


def member_filter(member_xml: str) -> str | None:
    """The ``filterExpression`` a member file holds, or None."""
    from xml.sax.saxutils import unescape

    found = re.search(r"<filterExpression>(.*?)</filterExpression>", member_xml, re.DOTALL)
    return unescape(found.group(1)) if found else None
