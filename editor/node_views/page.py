"""An inspector page built from a node type's settings: a labelled control per setting.

The page knows nothing of the type beyond its view descriptor (choice
labels, when a control shows, a closing hint) and the engine's ``Setting``
list; each control comes from ``fields.editor_for``. Edits go to the host
(the inspector) as ``SetSetting`` commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from editor.commands import SetSetting
from editor.node_views.fields import FieldEditor, editor_for

if TYPE_CHECKING:
    from editor.node_views.base import NodeView
    from engine.flow.model import Node


def hint_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setObjectName("InspectorHint")
    return label


class SettingsPage(QWidget):
    def __init__(self, view: NodeView, host: Any) -> None:
        super().__init__()
        self.view = view
        self.host = host
        self.doc = host.doc
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setVerticalSpacing(8)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editors: dict[str, FieldEditor] = {}
        self.labels: dict[str, QLabel] = {}
        self.build()

    def build(self) -> None:
        """One row per setting, then the view's hint (override to add more)."""
        for setting in self.view.kind.settings:
            editor = editor_for(setting, self)
            self.editors[setting.key] = editor
            if setting.kind == "flag":
                self.form.addRow(editor.widget)
            else:
                label = QLabel(self.view.setting_labels.get(setting.key, setting.label))
                self.labels[setting.key] = label
                self.form.addRow(label, editor.widget)
            for extra in getattr(editor, "extra_rows", lambda: [])():
                self.form.addRow(extra)
        if self.view.hint:
            self.form.addRow(hint_label(self.view.hint))

    # -- for the controls ------------------------------------------------
    @property
    def loading(self) -> bool:
        return self.host.loading

    def node(self) -> Node:
        return self.doc.node(self.host.node_id)

    def push(self, key: str, value: Any, typing: bool = False) -> None:
        if self.host.loading or self.host.node_id is None:
            return
        node = self.node()
        if node.type != self.view.name:
            return  # a page another type's selection has hidden
        if node.settings.get(key) == value and (value is not None or key not in node.settings):
            return
        self.doc.undo_stack.push(SetSetting(self.doc, node.id, key, value, typing=typing))

    # -- for the inspector -----------------------------------------------
    def load(self, node: Node) -> None:
        """Show ``node``'s settings (after selection, an edit, an undo)."""
        for key, editor in self.editors.items():
            editor.load(node)
            test = self.view.visible_when.get(key)
            shown = test(node) if test is not None else True
            editor.widget.setVisible(shown)
            if key in self.labels:
                self.labels[key].setVisible(shown)

    def refresh(self, node: Node) -> None:
        """The graph or the lead list changed: refill the choices that depend on them."""
        for editor in self.editors.values():
            editor.refresh(node)
