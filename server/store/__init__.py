"""The feedback store: translations, segments, feedback and A/B comparisons, durable and migrated on open.

SQLite in WAL mode in the server's data folder by default, PostgreSQL (asyncpg) by ``settings.store.url``.
"""

from ._adapters import AdapterTable
from ._cache import CachedOutput
from ._db import resolve_url
from ._idempotency import WriteResult, request_hash
from ._jobs import Claim, JobTable, LeaseLost
from ._migrate import HEAD as SCHEMA_HEAD
from ._models import Comparison, Feedback, Segment, Translation
from ._records import SegmentRecord, TranslationRecord
from ._stats import adapter_label
from ._store import Store, open_store
from .errors import RecordNotFound, StoreConflict, StoreError, StoreUnavailable

__all__ = [
    "SCHEMA_HEAD",
    "AdapterTable",
    "CachedOutput",
    "Claim",
    "Comparison",
    "Feedback",
    "JobTable",
    "LeaseLost",
    "RecordNotFound",
    "Segment",
    "SegmentRecord",
    "Store",
    "StoreConflict",
    "StoreError",
    "StoreUnavailable",
    "Translation",
    "TranslationRecord",
    "WriteResult",
    "adapter_label",
    "open_store",
    "request_hash",
    "resolve_url",
]
