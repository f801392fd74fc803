"""A minimal server-sent-events line parser (the part of the WHATWG algorithm a JSON event stream needs)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["SseParser"]


class SseParser:
    """Feed lines with ``feed``; it returns a complete event (a dict) at each blank line, else ``None``.

    The ``data`` field is parsed as JSON when it is JSON; a non-object payload lands under ``"data"``. The event name
    (``event:`` field) is added as ``"event"`` unless the payload already has one; ``id:`` as ``"_id"``.
    """

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    def feed(self, line: str) -> dict[str, Any] | None:
        line = line.rstrip("\r\n")
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None

    def _dispatch(self) -> dict[str, Any] | None:
        if not self._data and self._event is None:
            return None
        payload = "\n".join(self._data)
        event: dict[str, Any]
        try:
            parsed = json.loads(payload) if payload else {}
        except json.JSONDecodeError:
            parsed = payload
        event = dict(parsed) if isinstance(parsed, dict) else {"data": parsed}
        if self._event is not None:
            event.setdefault("event", self._event)
        if self._id is not None:
            event.setdefault("_id", self._id)
        self._data, self._event, self._id = [], None, None
        return event
