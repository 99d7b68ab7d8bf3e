"""A searchable architecture chooser: an editable combo box whose completer finds every name that
contains what was typed, in any case (timm alone offers over a thousand models: ``conv`` finds
``timm:convnext_atto`` and ``timm:convmixer_768_32``; ``vit`` the vision transformers, small ones
for 32 px images first). Any name may be typed, e.g. one that a model file builds, or a timm
model with timm's own options after a ``?`` (``timm:vit_tiny_patch16_224?img_size=32&patch_size=4``,
the syntax configs and the command line take); the engine says when it does not know it."""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtWidgets import QComboBox, QCompleter

__all__ = ["ArchChoice"]


class ArchChoice(QComboBox):
    """Editable combo over a list of names with a contains-mode, case-insensitive completer."""

    def __init__(self, tooltip: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.names_model = QStringListModel(self)
        self.setModel(self.names_model)
        completer = QCompleter(self.names_model, self)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        completer.setMaxVisibleItems(15)
        self.setCompleter(completer)
        self.setMaxVisibleItems(20)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(9)
        self.setToolTip(
            f"{tooltip}. Type any part of a name to search (timm models as timm:<name>; timm's options "
            "after a ?, e.g. timm:vit_tiny_patch16_224?img_size=32&patch_size=4&depth=4)"
        )
        if placeholder:
            self.lineEdit().setPlaceholderText(placeholder)

    def set_names(self, names: list[str], default: str = "") -> None:
        """Offer ``names``; the typed choice stays when it is still offered, else ``default``."""
        current = self.currentText().strip()
        self.names_model.setStringList(list(names))
        chosen = current if current in names or (current and not default) else default
        self.setCurrentText(chosen)

    def names(self) -> list[str]:
        return self.names_model.stringList()

    def arch(self) -> str:
        """The chosen (or typed) name, stripped; "" when none."""
        return self.currentText().strip()

    def matches(self, text: str) -> list[str]:
        """The names the completer offers for ``text`` (what the popup lists)."""
        completer = self.completer()
        completer.setCompletionPrefix(text)
        found = completer.completionModel()
        return [found.index(row, 0).data() for row in range(found.rowCount())]
