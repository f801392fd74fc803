"""The errors of ``papertrans.rl``: one base, :class:`RlError`, with a machine-readable ``code`` and a human ``detail``.

::

    RlError
    ├── DataError      bad training or eval input, found before any work starts     (exit 1, usage/input)
    ├── AdapterError   an adapter folder that cannot be used                          (exit 1, usage/input)
    ├── TrainError     a training job that cannot start or finish                     (exit 3, failed)
    ├── PublishError   smoke test, registration or activation on the server failed    (exit 3, failed)
    └── RefreshBusy    another refresh holds the lock                                 (exit 2, retry later)

Each class carries its exit code (:mod:`papertrans.exitcodes`), so the commands map every failure the same way.
"""

from __future__ import annotations

from papertrans import exitcodes

__all__ = ["AdapterError", "DataError", "PublishError", "RefreshBusy", "RlError", "TrainError"]


class RlError(Exception):
    """Base of every rl error: ``code`` is machine-readable, ``detail`` says what to do about it."""

    exit_code: int = exitcodes.FAILED

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class DataError(RlError, ValueError):
    """Bad training input, found before training starts."""

    exit_code = exitcodes.USAGE


class AdapterError(RlError, ValueError):
    """An adapter folder that cannot be used (missing files, another base model)."""

    exit_code = exitcodes.USAGE


class TrainError(RlError, RuntimeError):
    """A training job that cannot start or finish."""


class PublishError(RlError, RuntimeError):
    """Publishing an adapter to a server failed (smoke test, registration, activation)."""


class RefreshBusy(RlError, RuntimeError):
    """Another refresh holds the lock."""

    exit_code = exitcodes.UNAVAILABLE

    def __init__(self, detail: str) -> None:
        super().__init__("refresh_busy", detail)
