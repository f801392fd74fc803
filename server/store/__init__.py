"""The feedback store: translations, segments, feedback and A/B comparisons, durable and migrated on open.

SQLite in WAL mode in the server's data folder by default, PostgreSQL (asyncpg) by ``settings.store.url``.
"""

from ._adapters import AdapterTable
from ._db import resolve_url
from ._idempotency import WriteResult, request_hash
from ._jobs import Claim, JobTable, LeaseLost
from ._records import SegmentRecord, TranslationRecord
from ._stats import adapter_label
from ._store import Store, open_store
from .errors import RecordNotFound, StoreConflict, StoreError, StoreUnavailable

__all__ = [
    "AdapterTable",
    "Claim",
    "JobTable",
    "LeaseLost",
    "RecordNotFound",
    "SegmentRecord",
    "Store",
    "StoreConflict",
    "StoreError",
    "StoreUnavailable",
    "TranslationRecord",
    "WriteResult",
    "adapter_label",
    "open_store",
    "request_hash",
    "resolve_url",
]
