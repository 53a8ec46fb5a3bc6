"""JSON from clients, with its nesting bounded: the one parser of every JSON input.

Python's ``json`` recurses once per nested array or object. A few kilobytes of ``[`` reach
the interpreter's recursion limit inside the parser (a ``RecursionError``, where a 400
belongs), and a document nested just below that limit parses but fails later, when it is
walked or encoded again. ``parse_json`` refuses documents nested deeper than ``MAX_DEPTH``
before parsing them. 128 is serde_json's limit, which the providers' own ingestion (Sentry's
Relay, PostHog's capture) applies: nothing deeper would be accepted upstream anyway.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

MAX_DEPTH = 128

# A JSON string, or an unterminated one up to the end: it always matches from its quote, so
# the scan stays linear whatever the text.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_OPEN_CLOSE = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


class JSONInputError(ValueError):
    """A JSON input refused; the message follows its subject: "the body " + message."""


def parse_json(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of ``text``; ``JSONInputError`` when it is not JSON or nests arrays
    and objects more than ``max_depth`` deep."""
    # Fewer brackets than the bound cannot nest deeper: the usual case, two C-speed counts.
    if text.count("[") + text.count("{") > max_depth and nesting(text) > max_depth:
        raise JSONInputError(f"nests arrays or objects more than {max_depth} levels deep")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise JSONInputError(f"is not valid JSON ({error})") from None


def nesting(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (brackets inside strings aside)."""
    # Outside strings, valid JSON is ASCII: the brackets become +1/-1 bytes, summed in C.
    outside = _STRING.sub("", text).encode("ascii", "ignore")
    steps = memoryview(outside.translate(_OPEN_CLOSE, _NOT_BRACKETS)).cast("b")
    return max(itertools.accumulate(steps, initial=0))
