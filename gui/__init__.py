"""KD Lens desktop application (PySide6 + pyqtgraph). Calls the engine; holds no maths."""

from gui.refcount_guard import make_singletons_immortal

make_singletons_immortal()
