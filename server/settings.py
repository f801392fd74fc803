"""Settings from the environment (``PAPERTRANS_*``), one nested model per concern.

Flat names such as ``PAPERTRANS_PORT`` / ``PAPERTRANS_MODEL`` / ``PAPERTRANS_ADMIN_KEY`` are the documented ones; nested
fields are also reachable as ``PAPERTRANS_ENGINE__KV_CACHE_GIB`` etc. The engine's own settings model lives with the
engine (:class:`papertrans.server.engine.EngineSettings`, which knows nothing of this module); it is nested here as
``engine``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from papertrans.server.engine import EngineSettings

__all__ = ["LimitsSettings", "Settings", "StoreSettings", "TranslateSettings"]


class TranslateSettings(BaseModel):
    """The translate pipeline."""

    chunk_budget_tokens: int = Field(384, description="Token budget of one chunk's source text.")
    overlap: int = Field(1, description="Preceding source segments carried as read-only context.")
    max_retries: int = Field(2, description="Retries of a failed segment (stricter prompt, then smaller pieces).")
    retry_candidates: int = Field(
        1,
        ge=1,
        le=8,
        description="Candidates of the stricter-prompt retry (greedy + samples, best-of-N); the best by the "
        "translation reward (integrity, faithfulness, copied English) is kept. Only segments that failed a check "
        "pay for them; 3 bought little on the dev data for 1.5x the time (docs/placeholders.md).",
    )
    retry_temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature of those extra candidates.")
    early_stop: Literal["release", "close"] = Field(
        "release",
        description="A model that wants to stop with placeholders pending: 'release' lets it (the attempt fails and "
        "is retried, the last rung in sentence pieces) instead of 'close' (write them at once, piled at the end).",
    )
    temperature: float = Field(0.0, description="Sampling temperature (0 = greedy).")
    max_tokens_factor: float = Field(3.0, description="max_tokens = factor x source tokens + 32.")
    max_document_bytes: int = Field(2_000_000, description="Largest Markdown accepted by /translate (413 above).")
    memory: bool = Field(
        True,
        description="Translation memory: a segment whose masked source (same glossary version) has an accepted "
        "reader correction, or else a pair imported from TMX (POST /memory/import, any glossary version), gets it "
        "(status 'memory') without a model call.",
    )
    keep_references: bool = Field(
        True,
        description="Keep the references / bibliography section as it is: from a heading such as References, "
        "Bibliography, Works Cited, 参考文献 (numbered or not) to the next heading of the same or a higher level, "
        "never sent to the model, restored byte for byte (an appendix after it is translated again).",
    )
    keep_authors: bool = Field(
        True,
        description="Keep the byline as it is: the author and affiliation lines between the title and the first "
        "section or abstract (names with marks, institutions, emails, ORCID); prose is never taken for one.",
    )
    keep_captions: bool = Field(
        False,
        description="Keep figure and table captions as they are ('Figure 3:', 'Table 2.', the converters' "
        "'Figure:' / 'Table:' lines, an image's alt text); off: readers want captions translated.",
    )
    cache: bool = Field(
        True,
        description="Output cache: a segment translated before under the same key (masked source, prompts with "
        "their context, model, adapter version, prompt style, glossary version, sampling and retry settings) "
        "gets the kept output again (status 'cached') without a model call; the memory wins over it.",
    )
    terminology: bool = Field(
        True,
        description="Document terminology: before translating, extract the document's terms (frequent phrases, "
        "hyphenated technical words, acronyms' expansions), choose one translation for each (the request's "
        "glossary, then the term base, then one short model request per term) and enforce them as the document's "
        "glossary; the response reports each term, its translation, its source and its consistency "
        "(docs/terminology.md).",
    )
    term_base: bool = Field(
        True,
        description="The shipped EN->ZH term base (ML, statistics, RL, systems; papertrans/contract/terms) as the "
        "layer of the document terminology under the request's glossary; false = user glossary and model only.",
    )
    terminology_max_terms: int = Field(
        40,
        ge=0,
        le=500,
        description="Most model requests of the terminology step per document (one per extracted term no glossary "
        "or term base covers, most frequent first); 0 = never ask the model.",
    )
    terminology_min_occurrences: int = Field(
        2,
        ge=1,
        description="Times a phrase must occur in a document to be one of its terms (acronyms' expansions and term "
        "base entries count from one).",
    )
    term_post_edit: bool = Field(
        True,
        description="After translating, put a term's chosen translation where a segment whose source uses the term "
        "copied the English term or wrote the model's own rendering of it (asked once per glossary or term-base "
        "term, within terminology_max_terms); small models follow glossary hints in the prompt poorly "
        "(docs/terminology.md). Reader corrections (status 'memory') are never edited.",
    )


class LimitsSettings(BaseModel):
    """Backpressure and size limits: a request over a limit gets a 4xx (429/413), never an unbounded wait.

    A "client" is its ``X-API-Key`` (when keys are configured), else its address.
    """

    translate_per_client: int = Field(16, description="Concurrent /translate requests of one client (429 above).")
    translate_running: int = Field(32, description="/translate requests translating at once, all clients together.")
    translate_waiting: int = Field(128, description="/translate requests waiting for a running slot (503 above).")
    wait_timeout_s: float = Field(30.0, description="Longest wait for a running slot before a 503.")
    jobs_per_client: int = Field(16, description="Unfinished (queued or running) jobs of one client (429 above).")
    jobs_queued: int = Field(256, description="Unfinished jobs, all clients together (503 above).")
    max_segments: int = Field(5000, description="Segments of one document (413 above).")
    max_glossary_entries: int = Field(2000, description="Entries of one request's glossary (413 above).")
    retry_after_s: int = Field(5, description="Retry-After (seconds) sent with 429/503 answers.")


class StoreSettings(BaseModel):
    """The feedback store."""

    url: str | None = Field(None, description="SQLAlchemy async URL; default: SQLite (WAL) in the data folder.")


class Settings(BaseSettings):
    """Everything the server reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="PAPERTRANS_", env_nested_delimiter="__", extra="ignore")

    host: str = Field("127.0.0.1", description="Bind address.")
    port: int = Field(8000, description="Bind port.")
    model: str = Field("embedded:gemma-3-270m", description="Local folder, hub id, or embedded:gemma-3-270m.")
    data_dir: Path = Field(Path("data"), description="Database, adapter store, jobs and model cache live here.")
    cache_dir: Path | None = Field(None, description="Converted-model cache (default: ~/.cache/papertrans).")
    admin_key: str | None = Field(None, description="Key for the admin endpoints (X-Admin-Key); unset = admin off.")
    api_keys: list[str] = Field(
        default_factory=list,
        description="Keys required (X-API-Key) on /translate, /jobs and feedback writes; empty = open.",
    )
    max_body_bytes: int = Field(4_000_000, description="Largest request body (413 above).")
    max_concurrent_jobs: int = Field(2, description="Background jobs translating at once (the rest wait queued).")
    default_adapter: str | None = Field(
        None,
        description="Adapter for requests that name none. Unset: the shipped starter adapter papertrans-zh on the "
        "embedded model (registered and activated at start), the base model otherwise; 'none' = the base model.",
    )
    engine: EngineSettings = Field(default_factory=EngineSettings)
    translate: TranslateSettings = Field(default_factory=TranslateSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    adapters_dir: Path | None = Field(
        default=None,
        description="The adapter store (default: <data_dir>/adapters). In a fleet: one shared volume, mounted at the "
        "same path in every replica and every vllm serve (they load adapters by path).",
    )
    adapter_registry: Literal["auto", "file", "store"] = Field(
        "auto",
        description="Where the adapter registry lives: 'file' (adapters.json in the data folder, one server), "
        "'store' (the database: every replica of a fleet sees the same versions and active ones), 'auto' = 'store' "
        "when engine.urls is set.",
    )
    job_queue: Literal["auto", "file", "store"] = Field(
        "auto",
        description="Where background jobs live: 'file' (the data folder; this server runs them), 'store' (the "
        "database: any replica runs, resumes and streams them), 'auto' = 'store' when engine.urls is set.",
    )
    job_lease_s: float = Field(
        15.0, description="Jobs in the store: a job whose replica stopped renewing its lease this long is resumed."
    )
    adapter_sync_s: float = Field(
        2.0, description="How often a replica takes the fleet's adapter registry from the store (seconds)."
    )
    drain_timeout_s: float = Field(30.0, description="On SIGTERM: how long in-flight requests may finish.")
    engine_check_s: float = Field(5.0, description="How often the engine's health is checked (0 = never).")
    exit_on_engine_death: bool = Field(
        True, description="A dead engine stops the server (exit code 3 under `papertrans serve`) for its supervisor."
    )

    @property
    def shared_adapters(self) -> bool:
        """True when the adapter registry lives in the store (a fleet)."""
        return self.adapter_registry == "store" or (self.adapter_registry == "auto" and bool(self.engine.urls))

    @property
    def shared_jobs(self) -> bool:
        """True when background jobs live in the store (a fleet)."""
        return self.job_queue == "store" or (self.job_queue == "auto" and bool(self.engine.urls))

    @property
    def adapter_dir(self) -> Path:
        """The adapter store: only folders under it can be registered."""
        return self.adapters_dir or self.data_dir / "adapters"
