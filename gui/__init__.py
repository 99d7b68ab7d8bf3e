"""KD Lens desktop application (PySide6 + pyqtgraph). Calls the engine; holds no maths.

``model/`` is the Qt-free state the panels read, ``panels/`` the widgets, ``jobs/`` how engine
jobs run for the window; ``main_window`` puts them together and ``app`` starts it."""
