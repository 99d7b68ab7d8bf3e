"""Size of a built bundle: its total and its largest parts, so `make bundle` shows what grew.

    python build_scripts/bundle_size.py dist/kdlens [--top 15] [--match 'torch/include/*' ...]

Sizes are apparent file sizes (st_size); symbolic links count zero so nothing is counted twice.
`--match` adds the size of the files whose path inside the bundle's `_internal` folder matches
each shell pattern, which is how the reductions in build_scripts/README.md were measured.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from collections.abc import Iterator
from pathlib import Path

CONTENTS = "_internal"  # PyInstaller 6's one-folder contents directory


def bundle_files(root: Path) -> Iterator[tuple[str, int]]:
    """(path relative to the contents folder, size) for every regular file under root."""
    base = root / CONTENTS if (root / CONTENTS).is_dir() else root
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            relative = path.relative_to(base)
        except ValueError:  # the executable beside _internal
            relative = path.relative_to(root)
        yield relative.as_posix(), path.stat().st_size


def total_size(root: Path) -> int:
    return sum(size for _, size in bundle_files(root))


def largest_parts(root: Path, top: int, depth: int = 0) -> list[tuple[str, int]]:
    """The `top` largest files (depth 0) or folders `depth` levels deep, largest first."""
    sizes: dict[str, int] = {}
    for name, size in bundle_files(root):
        key = "/".join(name.split("/")[:depth]) if depth else name
        sizes[key or name] = sizes.get(key or name, 0) + size
    return sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:top]


def matching_size(root: Path, pattern: str) -> int:
    return sum(size for name, size in bundle_files(root) if fnmatch.fnmatch(name, pattern))


def human(size: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.2f} GiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print a bundle's size and its largest parts.")
    parser.add_argument("bundle", type=Path, help="the one-folder bundle, e.g. dist/kdlens")
    parser.add_argument("--top", type=int, default=15, help="how many largest parts to list")
    parser.add_argument("--match", action="append", default=[], help="report files matching PATTERN")
    args = parser.parse_args(argv)
    if not args.bundle.is_dir():
        print(f"bundle_size: {args.bundle} is not a folder; build it with `make bundle`.", file=sys.stderr)
        return 2
    print(f"bundle {args.bundle}: {human(total_size(args.bundle))}")
    print(f"largest {args.top} files:")
    for name, size in largest_parts(args.bundle, args.top):
        print(f"  {human(size):>11}  {name}")
    print(f"largest {args.top} folders (two levels deep):")
    for name, size in largest_parts(args.bundle, args.top, depth=2):
        print(f"  {human(size):>11}  {name}")
    for pattern in args.match:
        print(f"matching {pattern}: {human(matching_size(args.bundle, pattern))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
