"""A night of the learning loop without a model: a fake-engine server, readers who correct it, a candidate that learned.

- :class:`LearningFake`: the fake engine, except that the adapter versions in ``learners`` answer the sentences in
  ``learned`` with the readers' own translation (the night "learned" the corrections); everything else (other
  sentences, other versions, the base model) is the plain fake translation.
- :func:`fake_server`: ``create_app`` on that engine, served by uvicorn in a thread, with the starter
  ``papertrans-zh`` installed as the default adapter (as ``papertrans serve`` does on the embedded model).
- :func:`reader_documents` / :func:`readers_correct`: one-sentence documents chosen so that a known number land in the
  export's eval split (:func:`papertrans.server.store.export.split_of`), translated by the server and corrected by a
  reader through ``POST /feedback``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from papertrans.clients import Client
from papertrans.contract import STARTER_NAME
from papertrans.server.app import create_app
from papertrans.server.engine import AdapterRef, Generation, SamplingOptions
from papertrans.server.engine.fake import FakeEngine
from papertrans.server.settings import Settings
from papertrans.server.store.export import split_of

__all__ = ["ADMIN_KEY", "LearningFake", "fake_server", "reader_documents", "readers_correct"]

ADMIN_KEY = "night-admin"


class LearningFake(FakeEngine):
    def __init__(self, learned: dict[str, str]) -> None:
        super().__init__()
        self.learned = learned
        self.learners: set[str] = set()

    async def generate(
        self, prompt: str, options: SamplingOptions, *, adapter: AdapterRef | None = None, request_id: str
    ) -> Generation:
        source = self.source_of(prompt).strip()
        if adapter is not None and adapter.name in self.learners and source in self.learned:
            text = self.learned[source]
            return Generation(
                text=text, tokens_in=self.count_tokens(prompt), tokens_out=len(text), finish_reason="stop"
            )
        return await super().generate(prompt, options, adapter=adapter, request_id=request_id)


@contextmanager
def fake_server(data_dir: Path, engine: FakeEngine) -> Iterator[tuple[str, Settings]]:
    settings = Settings(data_dir=data_dir, admin_key=ADMIN_KEY, default_adapter=STARTER_NAME)
    app = create_app(settings, engine=engine)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not (srv.started and srv.servers):
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", settings
    finally:
        srv.should_exit = True
        thread.join(timeout=30)


_TOPICS = ["tokenizer", "scheduler", "checkpoint", "dataloader", "optimizer", "pipeline", "embedding", "cache"]
_TOPICS_ZH = ["分词器", "调度器", "检查点", "数据加载器", "优化器", "流水线", "嵌入", "缓存"]


def reader_documents(n_eval: int, n_train: int) -> list[tuple[str, str, str]]:
    """(english, the reader's chinese, split) one-sentence documents: ``n_eval`` of the eval split, ``n_train`` of
    the train split, in a fixed order."""
    out: list[tuple[str, str, str]] = []
    counts = {"eval": 0, "train": 0}
    wanted = {"eval": n_eval, "train": n_train}
    i = 0
    while counts["eval"] < n_eval or counts["train"] < n_train:
        topic, zh = _TOPICS[i % len(_TOPICS)], _TOPICS_ZH[i % len(_TOPICS_ZH)]
        en = f"Step {i} configures the {topic} before the first batch is loaded."
        split = split_of(hashlib.sha256(en.encode()).hexdigest())  # the document hash the pipeline records
        if counts[split] < wanted[split]:
            counts[split] += 1
            out.append((en, f"第{i}步在加载第一个批次之前配置{zh}。", split))
        i += 1
    return out


def readers_correct(url: str, docs: list[tuple[str, str, str]]) -> None:
    """Each document translated with the server's default adapter, and its one segment corrected by a reader."""
    with Client(url, timeout=60) as client:
        for en, zh, _ in docs:
            result = client.translate(en)
            assert result.adapter is not None and result.adapter.startswith(STARTER_NAME + "@")
            client.feedback(result.translation_id, result.segments[0].id, rating="down", correction=zh)
