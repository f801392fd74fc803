"""The store's domain errors; server/errors.py maps them to HTTP (the store knows nothing of HTTP).

::

    StoreError(code, detail)
    ├── RecordNotFound    no such translation, segment or comparison                               -> 404
    ├── StoreConflict     the write contradicts what is stored (an Idempotency-Key reused with
    │                     another body, concurrent writes with one key, a comparison already decided) -> 409
    └── StoreUnavailable  the database does not answer (connection refused or lost, file gone, pool
                          exhausted): nothing was written, the same request may be retried later   -> 503

Every session of the store (:mod:`._db`) turns the driver's connection errors into :class:`StoreUnavailable`, so that
only the store's own failures are reported as ``store_unavailable``.
"""

from __future__ import annotations

__all__ = ["RecordNotFound", "StoreConflict", "StoreError", "StoreUnavailable"]


class StoreError(Exception):
    """A request the store cannot satisfy: ``code`` is machine-readable, ``detail`` says what was wrong."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class RecordNotFound(StoreError):
    """No translation, segment or comparison with that id."""


class StoreConflict(StoreError):
    """The write contradicts what is stored."""


class StoreUnavailable(StoreError):
    """The database does not answer; the cause is chained (``__cause__``)."""
