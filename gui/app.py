"""`kdlens`: the desktop application's entry point."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("The KD Lens window arrives with the desktop-app issue; use kdlens-cli for now.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
