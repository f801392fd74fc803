"""Glossary terms mined from readers' corrections (``X-Admin-Key``): proposals, accepting and rejecting them.

``GET /glossary/proposals`` mines the stored corrections (``server.reader_terms``: a source term readers keep
correcting to the same target, in at least ``min_corrections`` corrections and ``min_consistency`` of those of
segments with the term); terms already decided are not proposed again. ``POST /glossary/proposals/accept`` stores a
term as accepted: from the next ``/translate`` on it is in every request's glossary (under the request's own entries,
which win). ``POST /glossary/proposals/reject`` stores it as rejected (an accepted one stops being enforced).
``GET /glossary/terms`` lists the decisions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from papertrans import protect
from papertrans.server.errors import BadRequest
from papertrans.server.reader_terms import Proposal, propose
from papertrans.server.routes._schemas import GlossaryItem
from papertrans.server.routes.adapters import admin_guard
from papertrans.server.store import Store
from papertrans.server.store.glossary_terms import GlossaryTerms

__all__ = ["GlossaryController"]


async def _proposals(store: Store, min_corrections: int, min_consistency: float, limit: int) -> list[Proposal]:
    terms = GlossaryTerms(store.db)
    corrections = await terms.corrections()
    decided = [(t.source, t.target) for t in await terms.all()]
    triples = [(c.source, c.output, c.correction) for c in corrections]
    return await asyncio.to_thread(
        propose,
        triples,
        min_corrections=min_corrections,
        min_consistency=min_consistency,
        decided=decided,
        limit=limit,
    )


def _checked(data: GlossaryItem) -> tuple[str, str]:
    source, target = " ".join(data.source.split()), data.target.strip()
    try:
        protect.Glossary.from_pairs([(source, target)])
    except (ValueError, TypeError) as exc:
        raise BadRequest("invalid_glossary", str(exc)) from exc
    return source, target


class GlossaryController(Controller):
    path = "/glossary"
    tags = ["glossary"]  # Litestar reads these class attributes
    guards = [admin_guard]

    @get("/proposals", summary="Terms readers keep correcting to the same target, proposed for the glossary")
    async def proposals(
        self,
        store: NamedDependency[Store],
        min_corrections: FromQuery[int] = 3,
        min_consistency: FromQuery[float] = 0.8,
        limit: FromQuery[int] = 100,
    ) -> dict[str, Any]:
        if min_corrections < 1 or not 0.0 < min_consistency <= 1.0 or not 1 <= limit <= 1000:
            raise BadRequest("invalid_query", "min_corrections >= 1, 0 < min_consistency <= 1, 1 <= limit <= 1000")
        found = await _proposals(store, min_corrections, min_consistency, limit)
        return {
            "proposals": [p.public() for p in found],
            "min_corrections": min_corrections,
            "min_consistency": min_consistency,
        }

    @post("/proposals/accept", status_code=201, summary="Accept a term: enforced in every translation from now on")
    async def accept(self, data: JSONBody[GlossaryItem], store: NamedDependency[Store]) -> dict[str, Any]:
        source, target = _checked(data)
        support = next(
            (
                p.support
                for p in await _proposals(store, 1, 0.01, 1000)
                if p.source.lower() == source.lower() and p.target == target
            ),
            0,
        )
        term = await GlossaryTerms(store.db).decide(source, target, "accepted", support=support)
        return term.public()

    @post("/proposals/reject", status_code=200, summary="Reject a term: never proposed again, no longer enforced")
    async def reject(self, data: JSONBody[GlossaryItem], store: NamedDependency[Store]) -> dict[str, Any]:
        source, target = _checked(data)
        return (await GlossaryTerms(store.db).decide(source, target, "rejected", support=0)).public()

    @get("/terms", summary="The decided terms: accepted (enforced) and rejected")
    async def terms(self, store: NamedDependency[Store]) -> dict[str, Any]:
        return {"terms": [t.public() for t in await GlossaryTerms(store.db).all()]}
