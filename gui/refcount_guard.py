"""Guard against a PySide6 6.12 reference-count bug on Python < 3.12.

PySide6 6.12.0 drops references to ``None``, ``True`` and ``False`` in many calls (e.g.
``processEvents``, emitting a ``Signal(bool)``, ``ImageItem.setImage``): measured here, a few
dozen per drawn frame. On Python 3.12+ these objects are immortal and nothing happens; on 3.11 the
count reaches zero after a long session and the interpreter aborts ("Fatal Python error:
bool_dealloc" / "none_dealloc"), typically at exit. We give the three singletons a huge extra
reference count, which is what Python 3.12 does for them anyway. CPython only (``ob_refcnt`` is
the first field of every object there); a no-op elsewhere and on 3.12+.
"""

from __future__ import annotations

import ctypes
import platform
import sys

_EXTRA = 1 << 40


def make_singletons_immortal() -> bool:
    """Raise the reference counts of None/True/False once; True when it did something."""
    if sys.version_info >= (3, 12) or platform.python_implementation() != "CPython":
        return False
    if getattr(sys, "_kdlens_singletons_guarded", False):
        return False
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += _EXTRA
    sys._kdlens_singletons_guarded = True
    return True
