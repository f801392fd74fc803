"""HTTP route handlers, one module per resource."""

from typing import Any

from papertrans.server.routes import feedback, memory
from papertrans.server.routes.adapters import AdapterController
from papertrans.server.routes.glossary import GlossaryController
from papertrans.server.routes.health import health
from papertrans.server.routes.jobs import JobController
from papertrans.server.routes.metrics import metrics
from papertrans.server.routes.translate import translate

__all__ = [
    "AdapterController",
    "GlossaryController",
    "JobController",
    "health",
    "metrics",
    "route_handlers",
    "translate",
]

# Every handler the app serves: translation, jobs, adapters, health, metrics, the feedback API + review page, and the
# translation memory's TMX import/export and fuzzy suggestions, the glossary terms mined from corrections.
route_handlers: list[Any] = [
    translate,
    JobController,
    AdapterController,
    GlossaryController,
    health,
    metrics,
    *feedback.route_handlers,
    *memory.route_handlers,
]
