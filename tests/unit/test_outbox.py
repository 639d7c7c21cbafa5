"""The SQS handlers' one outbox: items sent after the batch, refused items reported as batch item failures."""

from __future__ import annotations

from territory_router.outbox import BatchOutbox


def test_refused_items_fail_their_message_once() -> None:
    outbox: BatchOutbox[str] = BatchOutbox()
    outbox.add("m1", "a")
    outbox.add("m2", "b")
    outbox.add("m2", "c")  # one message, two items: keys stay unique
    outbox.add("m3", "d")
    seen: list[list[tuple[str, str]]] = []

    def send(entries):
        seen.append(entries)
        return [key for key, item in entries if item in ("b", "c", "d")]

    response = outbox.flush(send, {"batchItemFailures": [{"itemIdentifier": "m3"}]})
    assert seen == [[("0", "a"), ("1", "b"), ("2", "c"), ("3", "d")]]
    assert response == {"batchItemFailures": [{"itemIdentifier": "m3"}, {"itemIdentifier": "m2"}]}
    assert len(outbox) == 0  # flushed: nothing carried into the next invocation


def test_nothing_to_send_makes_no_call() -> None:
    outbox: BatchOutbox[str] = BatchOutbox()

    def send(entries):
        raise AssertionError("no call for an empty outbox")

    assert outbox.flush(send, {}) == {"batchItemFailures": []}


def test_clear_forgets_a_previous_invocation() -> None:
    outbox: BatchOutbox[int] = BatchOutbox()
    outbox.add("old", 1)
    outbox.clear()
    outbox.add("new", 2)
    sent = []
    outbox.flush(lambda entries: sent.extend(entries) or [], {})
    assert sent == [("0", 2)]
