"""Where the app keeps its files: ``MAILBRANCH_HOME`` if set, else the user's data dir."""

from __future__ import annotations

from pathlib import Path

from engine.runtime.home import ensure_home

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FLOW = ROOT / "resources" / "flows" / "sample.json"
SAMPLE_LEADS = ROOT / "resources" / "leads" / "sample-leads.csv"


def data_dir() -> Path:
    """The data directory (database, engine state and log), created on first use."""
    return ensure_home()  # owner-only (0700): it holds the database and the secrets
