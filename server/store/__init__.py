"""The feedback store: translations, segments, feedback and A/B comparisons, durable and migrated on open.

SQLite in WAL mode in the server's data folder by default, PostgreSQL (asyncpg) by ``settings.store.url``.
"""

from ._adapters import AdapterTable
from ._jobs import Claim, JobTable, LeaseLost
from ._records import SegmentRecord, TranslationRecord
from ._store import Store, WriteResult, adapter_label, open_store, request_hash, resolve_url
from .errors import RecordNotFound, StoreConflict, StoreError

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
    "TranslationRecord",
    "WriteResult",
    "adapter_label",
    "open_store",
    "request_hash",
    "resolve_url",
]
