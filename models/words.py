"""ICD-203 expressions of likelihood (US Intelligence Community Directive 203, 2015)."""

from __future__ import annotations

ICD_203: tuple[tuple[float, str], ...] = (
    (0.05, "almost no chance"),
    (0.20, "very unlikely"),
    (0.45, "unlikely"),
    (0.55, "roughly even chance"),
    (0.80, "likely"),
    (0.95, "very likely"),
    (1.00, "almost certain"),
)
"""Upper bound of each band (inclusive) and its phrase."""


def icd203(probability: float) -> str:
    """The ICD-203 phrase for a probability in [0, 1]."""
    return next(phrase for bound, phrase in ICD_203 if probability <= bound)
