"""papertrans server: Litestar app over an inference engine (vLLM), adapters, jobs, metrics, feedback store.

Kept import-free so that ``papertrans --help`` and a client-only install can register the server's commands; the
public pieces live in their modules: ``papertrans.server.app.create_app``, ``papertrans.server.settings.Settings``,
``papertrans.server.engine`` (the engine seam) and ``papertrans.server.store`` (the feedback store).
"""

__all__: list[str] = []
