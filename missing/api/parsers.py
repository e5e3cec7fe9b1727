"""The API's one request parser (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]): JSON only, within
the limits of `missing.api.input_limits`. A form-encoded body would arrive with every value as
text, so the API does not accept one (415)."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from missing.api import input_limits


class BoundedJSONParser(JSONParser):
    """DRF's JSONParser, refusing with a 400 naming the problem a body larger than
    `input_limits.json_max_bytes()` or nested deeper than `input_limits.JSON_MAX_DEPTH`,
    before Python's (recursive) JSON reader sees it."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        limit = input_limits.json_max_bytes()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ParseError(input_limits.too_large_message())
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if input_limits.json_depth(text) > input_limits.JSON_MAX_DEPTH:
            raise ParseError(input_limits.too_deep_message())
        parse_constant = json.strict_constant if self.strict else None
        try:
            return json.loads(text, parse_constant=parse_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
