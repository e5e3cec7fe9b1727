"""The limits every input meets before any code of ours reads it, so that no request, however
odd, can make the server fail (a 500) instead of answering what is wrong (a 400).

- JSON: at most `JSON_MAX_DEPTH` levels of nesting and `json_max_bytes()` bytes. Python's JSON
  reader recurses once per level: a body nested 1,000 deep exhausts the interpreter's recursion
  limit (RecursionError) rather than failing as bad JSON. The depth is checked on the text,
  before the reader sees it; the deepest real request (an interview record's `base`, holding
  factor picks) is 4 levels.
- Dates and date-times: years `YEAR_MIN`..`YEAR_MAX`. Wide enough for any real record or plan;
  outside it the arithmetic the application does (a period's end plus a day, a UTC offset, a
  year back) overflows Python's date range (years 1..9999), and before 1900 Europe/London kept
  local mean time (an offset in seconds that no ISO 8601 reader accepts back).

Used by the API's JSON parser (`missing.api.parsers`), the DRF date fields (`missing.api.serializers`),
the web forms' date fields (`missing.web.forms`) and any view that reads JSON itself.
"""

from __future__ import annotations

import json
import re
from datetime import date
from itertools import accumulate
from typing import Any

from django.conf import settings

JSON_MAX_DEPTH = 32
# The body limit is Django's own for request bodies (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB by
# default), so a JSON body and a form body meet the same one. DRF reads a JSON body through
# request.body, which already refused a larger one (RequestDataTooBig, answered by
# missing.api.errors); the parser checks again for a stream read any other way.
DEFAULT_JSON_MAX_BYTES = 2_621_440

YEAR_MIN, YEAR_MAX = 1900, 2999

# A JSON string (escapes included), written so that an unterminated one cannot backtrack.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonLimitExceeded(ValueError):
    """The JSON is too deep or too large; `message` says which, for the 400's `detail`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def json_max_bytes() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or DEFAULT_JSON_MAX_BYTES


def too_deep_message() -> str:
    return f"The JSON body is nested deeper than {JSON_MAX_DEPTH} levels."


def too_large_message() -> str:
    return f"The JSON body is larger than {json_max_bytes():,} bytes."


def json_depth(text: str) -> int:
    """How deep the arrays and objects in `text` nest, brackets inside strings not counted.
    Linear in the text's length, and with no recursion. Text that is not JSON gets a number
    too (the reader then refuses it for what it is)."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def check_json_text(text: str | bytes) -> None:
    """Raise JsonLimitExceeded if `text` is too large or nests too deep to be read safely."""
    if len(text) > json_max_bytes():
        raise JsonLimitExceeded(too_large_message())
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if json_depth(text) > JSON_MAX_DEPTH:
        raise JsonLimitExceeded(too_deep_message())


def loads(text: str | bytes, **kwargs: Any) -> Any:
    """`json.loads` behind the limits: JsonLimitExceeded (a ValueError) when past them, the
    reader's own ValueError when the text is not JSON."""
    check_json_text(text)
    return json.loads(text, **kwargs)


def year_in_range(value: date) -> bool:
    """For a date or a date-time (a datetime is a date)."""
    return YEAR_MIN <= value.year <= YEAR_MAX


def year_range_text() -> str:
    return f"between {YEAR_MIN} and {YEAR_MAX}"
