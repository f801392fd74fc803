"""``GET /metrics`` in the Prometheus text format."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State

from papertrans.server.metrics import CONTENT_TYPE_LATEST

__all__ = ["metrics"]


@get("/metrics", summary="Prometheus metrics", tags=["ops"], include_in_schema=True)
async def metrics(state: State) -> Response[bytes]:
    m = state.metrics
    for name, count in state.adapters.versions_count().items():  # gauges that are read, not counted
        m.adapter_versions.labels(name).set(count)
    for name, version in state.adapters.active_versions().items():
        m.adapter_active.labels(name).set(version)
    return Response(content=m.render(), media_type=CONTENT_TYPE_LATEST)
