"""papertrans: translate English academic papers (Markdown + LaTeX) into Chinese on open models, formula-safe.

Subpackages (dependencies point one way: ``cli → clients, rl, server → server.engine, server.store → protect``):

- ``papertrans.protect``: masking, restoring, validation, chunking, glossary (pure library);
- ``papertrans.server``: the Litestar app, the engine seam and the feedback store (extra ``[server]``);
- ``papertrans.rl``: training, the promotion gate, publish and the nightly refresh (extra ``[train]``);
- ``papertrans.clients``: the HTTP client and the LaTeX/PDF → Markdown converters (base install);
- ``papertrans.client``: shortcut to the client (``from papertrans.client import Client``).
"""

from importlib.metadata import version

#: The release, read from the installed package's metadata (pyproject.toml's ``version`` is the one place it is
#: written; an editable install takes it at install time, so `make setup` reinstalls after a bump).
__version__ = version("papertrans")

__all__ = ["__version__"]
