"""The window's Qt-free model (napari's ``components/`` side): what the open run holds and what
the user looks at. Panels read it and subscribe to its events; nothing here imports Qt."""
