"""The contract's values (`models.contract`) for clients: the dashboard reads its labels and
thresholds here rather than declaring them again."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import API
from app.schemas import ContractOut, OutcomeLabel, ThresholdsOut
from models import contract

router = APIRouter(prefix=f"{API}/contract", tags=["contract"])

_CONTRACT = ContractOut(
    outcomes=[OutcomeLabel(id=id, label=label) for id, label in contract.OUTCOME_LABELS.items()],
    max_lengths={
        "indicator": contract.MAX_INDICATOR_ID,
        "case_id": contract.MAX_CASE_ID,
        "key_name": contract.MAX_KEY_NAME,
        "name": contract.MAX_NAME,
        "title": contract.MAX_TITLE,
        "source": contract.MAX_SOURCE,
        "note": contract.MAX_NOTE,
        "idempotency_key": contract.MAX_IDEMPOTENCY_KEY,
        "url": contract.MAX_URL,
        "cursor": contract.MAX_CURSOR,
    },
    max_reports=contract.MAX_REPORTS,
    page_items={"default": contract.PAGE_DEFAULT, "max": contract.PAGE_MAX},
    horizon_days=contract.HORIZON_DAYS,
    thresholds=ThresholdsOut(reliable_pareto_k=contract.RELIABLE_K, surprise_z=contract.SURPRISE_Z),
)


@router.get("", response_model=ContractOut)
async def describe_contract() -> ContractOut:
    """The outcomes and their labels, the limits of lengths, of a request and of a page, a new
    case's horizon, and the thresholds of a doubtful forecast."""
    return _CONTRACT
