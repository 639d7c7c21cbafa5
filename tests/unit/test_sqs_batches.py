"""SQS batch calls: ten entries a call, refused entries reported by their own keys, never lost."""

from __future__ import annotations

from territory_router.adapters.queues import QueuePublisher, QueueVisibility


class StubSqs:
    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse  # bodies / receipt handles SQS refuses
        self.calls: list[tuple[str, list[dict]]] = []

    def _answer(self, entries: list[dict], value) -> dict:
        return {"Failed": [{"Id": e["Id"], "Code": "X"} for e in entries if value(e) in self.refuse]}

    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 - boto3's parameter names
        self.calls.append((QueueUrl, Entries))
        return self._answer(Entries, lambda e: e["MessageBody"])

    def change_message_visibility_batch(self, QueueUrl, Entries):  # noqa: N803
        self.calls.append((QueueUrl, Entries))
        return self._answer(Entries, lambda e: e["ReceiptHandle"])


def test_send_batch_in_tens_reports_refused_keys() -> None:
    sqs = StubSqs(refuse={"body-3", "body-11"})
    messages = [(f"key-{i}", f"body-{i}") for i in range(23)]
    assert QueuePublisher(sqs).send_batch("q", messages) == ["key-3", "key-11"]
    assert [len(entries) for _, entries in sqs.calls] == [10, 10, 3]
    assert sqs.calls[1][1][1] == {"Id": "1", "MessageBody": "body-11"}


def test_defer_caps_the_visibility_and_reports_refused_receipts() -> None:
    sqs = StubSqs(refuse={"r2"})
    assert QueueVisibility(sqs).defer("q", [("r1", 90_000), ("r2", 30), ("r3", -5)]) == ["r2"]
    (_, entries), = sqs.calls
    assert entries == [{"Id": "0", "ReceiptHandle": "r1", "VisibilityTimeout": 43_200},
                       {"Id": "1", "ReceiptHandle": "r2", "VisibilityTimeout": 30},
                       {"Id": "2", "ReceiptHandle": "r3", "VisibilityTimeout": 0}]


def test_nothing_to_send_makes_no_call() -> None:
    sqs = StubSqs(refuse=set())
    assert QueuePublisher(sqs).send_batch("q", []) == [] and sqs.calls == []
