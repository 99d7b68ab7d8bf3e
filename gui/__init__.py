"""KD Lens desktop application (PySide6 + pyqtgraph). Calls the engine; holds no maths."""
