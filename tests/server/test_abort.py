"""A client that goes away aborts every engine request of its document."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from papertrans.server.engine.fake import FakeEngine


async def test_disconnect_cancels_engine_requests(app_factory: Any) -> None:
    engine = FakeEngine(delay=30.0)
    app = app_factory(engine)
    body = json.dumps({"markdown": "\n\n".join(f"Paragraph {i} is long enough." for i in range(6))}).encode()
    sent: list[dict[str, Any]] = []
    disconnect = asyncio.Event()
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/translate",
        "raw_path": b"/translate",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    async with app.lifespan():  # runs the lifespan (engine, registry, store)
        call = asyncio.create_task(app(scope, receive, send))
        for _ in range(100):
            if engine.in_flight == 6:
                break
            await asyncio.sleep(0.02)
        assert engine.in_flight == 6  # all paragraphs were in flight together
        disconnect.set()
        await asyncio.wait_for(call, timeout=5)
    assert engine.in_flight == 0
    assert len(engine.aborted) == 6
