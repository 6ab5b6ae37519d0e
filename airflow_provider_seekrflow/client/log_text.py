"""Text the service sent, made safe to write into a log line."""

from __future__ import annotations

# Control characters (C0, DEL, C1), the Unicode line and paragraph separators, and the bidirectional
# overrides: a status or file name holding them could end a log line and forge the next one, or
# make a line read differently from what it holds. Each is written as its escape instead.
_ESCAPES: dict[int, str] = {code: f"\\x{code:02x}" for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_ESCAPES.update(
    {code: f"\\u{code:04x}" for code in (0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}
)


def for_log(value: object) -> str:
    r"""
    Return ``str(value)`` with every control character escaped, so it stays on one honest log line.

    A status of ``failed``, a line break and a forged ``INFO - Task succeeded`` is logged as the one
    line ``failed\r\nINFO - Task succeeded``.

    :param value: A string from the service (a status, a file name, a message), or anything else.
    """
    return str(value).translate(_ESCAPES)
