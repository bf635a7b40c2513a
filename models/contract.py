"""The service's contract values, each written once: how long what a client sends may be (and
the columns that store it), how much one request may carry, the thresholds a forecast is judged
by, the outcomes' labels and the horizon. The schemas, tables, routes, CLI and tests read them
from here; the dashboard gets them from `GET /v1/contract`."""

from __future__ import annotations

from typing import Final

MAX_INDICATOR_ID: Final = 64
MAX_CASE_ID: Final = 80
MAX_KEY_NAME: Final = 80
"""A key's name: also who is recorded as having made, entered, retracted or resolved a thing."""
MAX_NAME: Final = 120
"""A state's, target's or patron's name."""
MAX_TITLE: Final = 300
MAX_SOURCE: Final = 500
MAX_NOTE: Final = 4000
MAX_IDEMPOTENCY_KEY: Final = 200
MAX_URL: Final = 2000
"""A webhook's URL."""
MIN_SECRET: Final = 16
MAX_SECRET: Final = 128
"""A webhook's signing secret."""
MAX_EVENT_ID: Final = 200
"""The Last-Event-ID a resuming event stream sends."""

CASE_ID: Final = rf"^[a-z0-9][a-z0-9-]{{0,{MAX_CASE_ID - 1}}}$"
KEY_NAME: Final = rf"^[a-z0-9][a-z0-9._-]{{0,{MAX_KEY_NAME - 1}}}$"

MAX_REPORTS: Final = 500
"""Most reports one POST, what-if or scenario file may carry."""

MAX_ROW_ID: Final = 2**31 - 1
"""The largest id a stored row can have (PostgreSQL's integer): a larger one is refused."""

PAGE_DEFAULT: Final = 500
"""Items in a page of a list (a history, a case's reports, the cases) unless a client asks."""
PAGE_MAX: Final = 5000
"""Most items a page may hold: the most one read of a list builds."""
MAX_CURSOR: Final = 400
"""A page's cursor (it names the last item of the page before)."""

HORIZON_DAYS: Final = 90
"""A new case's horizon: the one the catalog's likelihoods were elicited for."""

RELIABLE_K: Final = 0.7
"""Above this Pareto k the importance weights are unreliable (Vehtari et al.): for a forecast,
the case is too unlike the reference cases for its reweighting of the draws to be trusted."""
SURPRISE_Z: Final = -2.33
"""Evidence is surprising when even its best-fitting outcome puts it in its lowest ~1% tail."""

OUTCOME_LABELS: Final = {
    "no_entry": "No entry",
    "false_flag": "False flag",
    "direct_invasion": "Direct invasion",
}
"""How each outcome is named to people (the catalog's `Outcome` says which there are)."""
