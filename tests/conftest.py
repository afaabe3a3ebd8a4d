import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "resources" / "flows"


@pytest.fixture
def flows_dir() -> Path:
    return FLOWS
