"""papertrans server: Litestar app over an inference engine (vLLM), adapters, jobs, metrics, feedback store.

``create_app`` is imported lazily so that ``import server.settings`` (used by rl and clients) stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from server.app import create_app

        return create_app
    raise AttributeError(name)
