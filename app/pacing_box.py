"""The Settings dialog's "Sending pace" group: how fast mail goes out to each provider.

Gmail, Outlook and Yahoo throttle (and then junk) a sender that arrives too
fast or, when new, too much; the engine paces each recipient domain's lane
(``engine/delivery/pacing.py``, docs/delivery.md). Most marketers need only
two choices: pacing on or off (off for a relay or ESP that paces by itself),
and, for a new sending domain, how many messages a provider gets on day one.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QGroupBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from app.settings import AppSettings

#: The growth ``--warmup N`` uses (engine/delivery/pacing.py): 1.5 times more each day.
GROWTH = 1.5


class PacingBox(QGroupBox):
    changed = Signal()

    def __init__(self, settings: AppSettings, parent: Optional[QWidget] = None) -> None:
        super().__init__("Sending pace", parent)
        # One row: the dialog must fit a 768-pixel-high laptop screen.
        row = QHBoxLayout(self)
        self.pacing = QCheckBox("Pace each provider")
        self.pacing.setToolTip("Gmail 10 messages a second (5 at once), Outlook 3/s, Yahoo 5/s; off: as fast as "
                               "the outgoing server takes it (for a relay or ESP that paces by itself)")
        self.pacing.setChecked(settings.pacing)
        row.addWidget(self.pacing)
        self.warmup = QSpinBox()
        self.warmup.setRange(0, 1_000_000)
        self.warmup.setSingleStep(50)
        self.warmup.setSpecialValueText("No warm-up")
        self.warmup.setSuffix(" on day one")
        self.warmup.setValue(max(0, settings.warmup_per_day))
        self.warmup.setToolTip(f"For a new sending domain: each provider gets this many on day one, then "
                               f"{GROWTH:g} times more each day; the rest wait for the next day.")
        row.addWidget(QLabel("Warm-up"))
        row.addWidget(self.warmup, 1)
        self.pacing.toggled.connect(self._toggled)
        self.warmup.valueChanged.connect(self.changed)
        self._toggled()

    def _toggled(self, *_args: object) -> None:
        self.warmup.setEnabled(self.pacing.isChecked())
        self.changed.emit()

    def values(self) -> dict:
        on = self.pacing.isChecked()
        return {"pacing": on, "warmup_per_day": self.warmup.value() if on else 0}
