"""The lead list as the inspector sees it: its columns (for field pickers and
``{{ field }}`` insertion) and a sample lead when no list is loaded."""

from __future__ import annotations

import csv
from functools import lru_cache
from typing import Any

from editor import style
from engine.flow.fields import STANDARD_FIELDS

SAMPLE_LEADS = style.RESOURCES / "leads" / "sample-leads.csv"


@lru_cache(maxsize=1)
def sample_lead() -> dict[str, str]:
    """The first lead of the sample list: what the preview is rendered for."""
    try:
        with SAMPLE_LEADS.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                return {k: v for k, v in row.items() if k}
    except OSError:
        pass
    return {"email": "ana@example.com", "first_name": "Ana", "last_name": "Smith", "company": "Bakery Bloom"}


def lead_columns(doc: Any) -> list[str]:
    """The fields of the current lead list (the sample lead's when none is loaded), sorted."""
    columns = doc.lead_columns if doc.lead_columns is not None else tuple(sample_lead())
    return sorted(set(columns) | STANDARD_FIELDS)


def lead_name(email: str, fields: dict[str, Any]) -> str:
    """How the lead picker names a lead: its name and address."""
    name = " ".join(str(fields.get(k) or "") for k in ("first_name", "last_name")).strip()
    return f"{name} <{email}>" if name else email
