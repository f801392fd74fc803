"""HTTP route handlers, one module per resource."""

from typing import Any

from server.routes.adapters import AdapterController
from server.routes.health import health
from server.routes.jobs import JobController
from server.routes.metrics import metrics
from server.routes.translate import translate

__all__ = ["AdapterController", "JobController", "health", "metrics", "route_handlers", "translate"]

route_handlers: list[Any] = [translate, JobController, AdapterController, health, metrics]
