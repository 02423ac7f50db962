"""The SORs behind a "DRC conflict free" claim: those named by smelter ID, and those named by
the suppliers whose CMRTs cover the claimed products (the survey's `named_by` provenance)."""

from __future__ import annotations

from .models import ClaimedProduct
from .survey import Smelter, SurveyResults


def claimed_sors(product: ClaimedProduct, survey: SurveyResults) -> tuple[list[Smelter], list[str]]:
    """The product's SORs in the survey's order, and what in `sors` or `suppliers` names none."""
    by_cid = {s.cid: s for s in survey.smelters}
    chosen: dict[str, Smelter] = {}
    unknown: list[str] = []
    for cid in product.sors:
        if cid in by_cid:
            chosen[cid] = by_cid[cid]
        else:
            unknown.append(cid)
    for supplier in product.suppliers:
        wanted = supplier.casefold()
        named = [
            s
            for s in survey.smelters
            if any(wanted in (p.file.casefold(), (p.supplier or "").casefold()) for p in s.named_by)
        ]
        if not named:
            unknown.append(supplier)
        chosen.update((s.cid, s) for s in named)
    order = {s.cid: index for index, s in enumerate(survey.smelters)}
    return sorted(chosen.values(), key=lambda s: order[s.cid]), unknown
