"""Watched cases."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import SessionDep, WriterDep
from app.schemas import CaseIn, CaseOut
from app.store import cases

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.post(
    "", response_model=CaseOut, status_code=status.HTTP_201_CREATED, dependencies=[WriterDep]
)
def create_case(case: CaseIn, session: SessionDep) -> CaseOut:
    """Start watching a case (token required)."""
    return CaseOut.model_validate(cases.create_case(session, case))


@router.get("", response_model=list[CaseOut])
def list_cases(session: SessionDep) -> list[CaseOut]:
    """Every watched case."""
    return [CaseOut.model_validate(row) for row in cases.list_cases(session)]


@router.get("/{case_id}", response_model=CaseOut)
def get_case(case_id: str, session: SessionDep) -> CaseOut:
    """One watched case."""
    return CaseOut.model_validate(cases.get_case(session, case_id))
