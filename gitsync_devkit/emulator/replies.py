"""The HTTP answer the emulator sends, raised by whoever decides it (handlers, auth, throttling)."""

from __future__ import annotations

import json
from typing import Any


class Reply(Exception):
    """Raised by handlers to answer with a given status, body and headers."""

    def __init__(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.content_type, self.headers = status, body, content_type, headers or {}


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(payload, separators=(",", ":")).encode(), "application/json", headers)


def error_reply(status: int, error_code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, {"error_code": error_code, "message": message}, headers)
