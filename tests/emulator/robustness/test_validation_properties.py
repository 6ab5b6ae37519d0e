"""Property-based tests (hypothesis) of the per-purpose JSONL validator in ``validation.py``.

- valid records of every purpose always pass, whatever the line endings, block size and decoder;
- one corrupted line in an otherwise valid file is always reported with exactly that line number;
- arbitrary bytes never raise anything but ``FileCheckError``;
- memory stays bounded by a block or one line, not the file (tracemalloc).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from airflow_provider_seekrflow import jsonl_lines, validation
from airflow_provider_seekrflow.validation import JSONL_PURPOSES, MESSAGE_ROLES, FileCheckError

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCHEMA_PURPOSES = sorted(JSONL_PURPOSES)  # fine-tune, alignment, preference-fine-tune, pre-train

text = st.text(max_size=40)
message = st.fixed_dictionaries({"role": st.sampled_from(MESSAGE_ROLES), "content": text})
conversation = st.lists(message, min_size=1, max_size=4)
extra_keys = st.dictionaries(st.sampled_from(["id", "meta", "weight"]), st.integers() | text, max_size=2)


def record(purpose: str) -> st.SearchStrategy[dict]:
    kind = JSONL_PURPOSES[purpose]
    if kind == "text":
        base = st.fixed_dictionaries({"text": text})
    elif kind == "messages":
        base = st.fixed_dictionaries({"messages": conversation})
    else:
        base = st.fixed_dictionaries(
            {"messages": conversation, "chosen": conversation, "rejected": conversation}
        )
    return st.tuples(base, extra_keys).map(lambda pair: {**pair[1], **pair[0]})


@st.composite
def valid_file(draw, purpose: str | None = None):
    purpose = purpose or draw(st.sampled_from(SCHEMA_PURPOSES))
    records = draw(st.lists(record(purpose), min_size=1, max_size=25))
    ascii_only = draw(st.booleans())
    lines = [json.dumps(r, ensure_ascii=ascii_only).encode("utf-8") for r in records]
    return purpose, lines


def join(
    lines: list[bytes], *, eol: bytes = b"\n", final_newline: bool = True, trailing_blank: int = 0
) -> bytes:
    data = eol.join(lines)
    if final_newline:
        data += eol
    return data + eol * trailing_blank


@contextlib.contextmanager
def mode(block: int | None, fast: bool) -> Iterator[None]:
    """Run the validator with a given block size, and with or without the msgspec accelerator."""
    saved_block, saved_cache = jsonl_lines._BLOCK, dict(validation._fast_decoders)
    try:
        if block is not None:
            jsonl_lines._BLOCK = block
        if not fast:
            validation._fast_decoders.clear()
            validation._fast_decoders.update({k: None for k in ("messages", "preference", "text")})
        yield
    finally:
        jsonl_lines._BLOCK = saved_block
        validation._fast_decoders.clear()
        validation._fast_decoders.update(saved_cache)


MODES = [(None, True), (64, True), (None, False), (37, False)]


def verdict(data: bytes, purpose: str, *, as_lines: bool = False) -> tuple[int | None, str] | None:
    """None when valid, else (line, reason); raises whatever else the validator raises."""
    source = io.BytesIO(data).readlines() if as_lines else io.BytesIO(data)
    try:
        validation.check_jsonl_stream(source, purpose, "data.jsonl")
    except FileCheckError as err:
        return err.line, err.reason
    return None


# ------------------------------------------------------------------------------------ valid passes


@FAST
@given(valid_file(), st.booleans(), st.integers(0, 3), st.sampled_from([b"\n", b"\r\n"]), st.booleans())
def test_valid_records_of_every_purpose_pass(sample, final_newline, trailing_blank, eol, bom):
    purpose, lines = sample
    data = join(lines, eol=eol, final_newline=final_newline, trailing_blank=trailing_blank)
    if bom:
        data = b"\xef\xbb\xbf" + data
    for block, fast in MODES:
        with mode(block, fast):
            assert verdict(data, purpose) is None, (block, fast)
            assert verdict(data, purpose, as_lines=True) is None, (block, fast)


@settings(max_examples=40, deadline=None)
@given(valid_file())
def test_valid_file_passes_check_file(sample):
    purpose, lines = sample
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.jsonl")
        with open(path, "wb") as fh:
            fh.write(join(lines))
        validation.check_file(path, purpose)


# -------------------------------------------------------------------------- corruption is located


def _set_role(line: bytes, role: object) -> bytes:
    obj = json.loads(line)
    obj["messages"][0]["role"] = role
    return json.dumps(obj).encode()


def _drop(line: bytes, key: str) -> bytes:
    obj = json.loads(line)
    obj.pop(key)
    return json.dumps(obj).encode()


CORRUPTIONS = {
    "truncated": lambda line, p: line[: max(1, len(line) // 2)],
    "trailing_garbage": lambda line, p: line + b" x",
    "invalid_utf8": lambda line, p: line[:1] + b"\xff\xfe" + line[1:],
    "not_an_object": lambda line, p: b"[" + line + b"]",
    "null": lambda line, p: b"null",
    "missing_field": lambda line, p: _drop(line, "text" if JSONL_PURPOSES[p] == "text" else "messages"),
    "wrong_role": lambda line, p: line if JSONL_PURPOSES[p] == "text" else _set_role(line, "bot"),
    "role_not_string": lambda line, p: line if JSONL_PURPOSES[p] == "text" else _set_role(line, 7),
    "blank_line": lambda line, p: b"   ",
    "deep_nesting": lambda line, p: b"[" * 5000 + b"]" * 5000,
}


@FAST
@given(valid_file(), st.data(), st.sampled_from(sorted(CORRUPTIONS)), st.sampled_from(MODES))
@example(
    sample=("pre-train", [b'{"text": "a"}', b'{"text": "b"}']),
    data=None,
    kind="invalid_utf8",
    run_mode=(None, True),
).via("a hand-picked case")
def test_one_corrupted_line_is_reported_at_its_line(sample, data, kind, run_mode):
    purpose, lines = sample
    if kind in ("wrong_role", "role_not_string"):
        assume(JSONL_PURPOSES[purpose] != "text")
    index = data.draw(st.integers(0, len(lines) - 1)) if data is not None else len(lines) - 1
    if kind == "blank_line":
        assume(index < len(lines) - 1)  # a blank line at the very end is tolerated
    lines = list(lines)
    lines[index] = CORRUPTIONS[kind](lines[index], purpose)
    blob = join(lines)
    with mode(*run_mode):
        found = verdict(blob, purpose)
        found_lines = verdict(blob, purpose, as_lines=True)
    assert found is not None, f"{kind} on line {index + 1} was not reported"
    assert found[0] == index + 1, f"{kind} on line {index + 1} reported at line {found[0]}: {found[1]}"
    assert found_lines == found
    # and the accelerator never changes the wording
    with mode(None, False):
        assert verdict(blob, purpose) == found


# ------------------------------------------------------------------------------------ arbitrary bytes


junk_lines = st.lists(
    st.one_of(
        st.binary(max_size=60),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["messages", "text", "role", "content", "chosen", "rejected", "x"]),
                    inner,
                    max_size=3,
                )
            ),
            max_leaves=8,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    max_size=12,
).map(lambda ls: b"\n".join(ls))


@FAST
@given(
    st.one_of(st.binary(max_size=3000), junk_lines),
    st.sampled_from(validation.PURPOSES),
    st.sampled_from(MODES),
)
@example(data=b"[" * 200_000, purpose="fine-tune", run_mode=(None, True))
@example(data=b"\x00" * 10 + b"\n" + b"{" * 3000, purpose="pre-train", run_mode=(64, False))
def test_arbitrary_bytes_raise_only_file_check_error(data, purpose, run_mode):
    with mode(*run_mode):
        for as_lines in (False, True):
            try:
                result = verdict(data, purpose, as_lines=as_lines)
            except Exception as exc:  # noqa: BLE001
                pytest.fail(f"{type(exc).__name__} escaped the validator: {exc!r}")
            if result is not None and result[0] is not None:
                assert 1 <= result[0] <= data.count(b"\n") + 1


@settings(max_examples=30, deadline=None)
@given(
    st.binary(min_size=1, max_size=2000),
    st.sampled_from(validation.PURPOSES),
    st.sampled_from(["jsonl", "md", "pt", "bin", ""]),
)
def test_check_file_on_arbitrary_bytes_raises_only_file_check_error(data, purpose, ext):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data." + ext if ext else "data")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            validation.check_file(path, purpose)
        except FileCheckError:
            pass


# ----------------------------------------------------------------------------------------- memory


@pytest.mark.parametrize("fast", [True, False], ids=["msgspec", "reference"])
def test_memory_is_bounded_by_a_block_not_the_file(tmp_path, fast):
    line = (
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "x" * 200},
                    {"role": "assistant", "content": "y" * 200},
                ]
            }
        )
        + "\n"
    ).encode()
    size = (24 if fast else 6) * 1024 * 1024
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as fh:
        for _ in range(size // (1 << 20)):
            fh.write(line * ((1 << 20) // len(line)))
        fh.write(b'{"messages": [{"role": "robot", "content": "z"}]}\n')
    lines = path.stat().st_size and sum(1 for _ in open(path, "rb"))
    with mode(None, fast):
        validation.check_file(path, "fine-tune", check_content=False)  # warm-up (imports, decoders)
        tracemalloc.start()
        try:
            with pytest.raises(FileCheckError) as info:
                validation.check_file(path, "fine-tune")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert info.value.line == lines
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.0f} MB file"


def test_memory_of_one_long_line_is_about_that_line(tmp_path):
    body = "x" * (8 * 1024 * 1024)
    path = tmp_path / "long.jsonl"
    path.write_bytes((json.dumps({"text": body}) + "\n").encode() * 2)
    tracemalloc.start()
    try:
        validation.check_file(path, "pre-train")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * len(body), f"peak {peak / 1e6:.1f} MB for an {len(body) / 1e6:.0f} MB line"
