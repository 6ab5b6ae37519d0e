"""The prompt set's line format: parsed as a stream, each fault naming the file and the line (no emulator, no Airflow DB)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_seekrflow import jsonl_lines
from airflow_provider_seekrflow.evaluation.prompts import Check, read_prompts
from airflow_provider_seekrflow.exceptions import SeekrFlowInvalidFileError
from airflow_provider_seekrflow.sources.source import iter_lines

GOOD = {"messages": [{"role": "user", "content": "Q?"}], "expected": "A."}


def lines(*items: object) -> list[bytes]:
    return [(item if isinstance(item, str) else json.dumps(item)).encode() + b"\n" for item in items]


def test_prompts_are_read_in_order_with_line_numbers_blank_lines_skipped():
    read = list(
        read_prompts(
            lines(GOOD, "", {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "id": 7},
                  {**GOOD, "check": {"regex": "^A", "case_sensitive": False}}),
            "p.jsonl",
        )
    )  # fmt: skip
    assert [r.line for r in read] == [1, 3, 4]
    assert read[0].expected == "A." and read[0].check is None
    assert read[1].expected is None and read[1].record["id"] == 7
    assert read[2].check == Check("regex", "^A", case_sensitive=False)
    assert read[2].check.passes("a.")


def test_reading_is_lazy():
    def endless():
        yield json.dumps(GOOD).encode()
        raise AssertionError("read past the first prompt")

    assert next(read_prompts(endless(), "p.jsonl")).line == 1


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object with messages, got list"),
        ({"expected": "A."}, "messages: must be a non-empty list of messages, got None"),
        ({"messages": []}, "messages: must be a non-empty list"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role: 'robot' is not one of"),
        ({"messages": [{"role": "user", "content": 1}]}, "messages[0].content: must be text"),
        ({**GOOD, "expected": 3}, "expected: must be a string, got int"),
        ({**GOOD, "check": "A."}, "check: must be an object"),
        (
            {**GOOD, "check": {"contains": "a", "regex": "b"}},
            "check: needs exactly one of exact, contains, regex",
        ),
        ({**GOOD, "check": {"starts": "a"}}, "check: unknown key(s) starts"),
        ({**GOOD, "check": {"regex": "(x"}}, "check.regex: not a valid regular expression"),
        ({**GOOD, "check": {"exact": 1}}, "check.exact: the exact value must be a string"),
        (
            {**GOOD, "check": {"exact": "a", "case_sensitive": "no"}},
            "check.case_sensitive: must be true or false",
        ),
    ],
)
def test_a_bad_line_names_the_file_and_the_line(line, reason):
    with pytest.raises(SeekrFlowInvalidFileError) as caught:
        list(read_prompts(lines(GOOD, GOOD, line, GOOD), "s3://bucket/prompts.jsonl"))
    message = str(caught.value)
    assert message.startswith("s3://bucket/prompts.jsonl: line 3: "), message
    assert reason in message and message.endswith("no prompt was sent")


def test_invalid_utf8_and_overlong_lines_name_their_line(monkeypatch):
    with pytest.raises(SeekrFlowInvalidFileError, match=r"p\.jsonl: line 2: not valid UTF-8"):
        list(read_prompts([json.dumps(GOOD).encode(), b'{"messages": "\xff"}'], "p.jsonl"))
    monkeypatch.setattr(jsonl_lines, "MAX_LINE_BYTES", 100)
    import io

    stream = io.BytesIO(
        (json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "expected": "x" * 100}) + "\n").encode()
    )
    with pytest.raises(SeekrFlowInvalidFileError, match=r"p\.jsonl: line 2: line longer than 100 bytes"):
        list(read_prompts(iter_lines(stream, 16), "p.jsonl"))
