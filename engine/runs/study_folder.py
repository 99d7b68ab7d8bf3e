"""The study folder (one configuration, several seeds): ``study.json`` beside one run folder per
seed (``seed_<s>/``), and ``study.csv``. Its one reader and writer; torch-free, so the window
can open a study on its own thread. The study job is :mod:`engine.jobs.study`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.errors import KDLensError

__all__ = ["STUDY_FILE", "StudyError", "is_study", "read_study", "seed_folder", "write_study"]

STUDY_FILE = "study.json"
STUDY_FORMAT = "kdlens.study"


class StudyError(KDLensError):
    """A study that cannot run or be read as asked (seeds, folder, file)."""


def seed_folder(study_dir: str | Path, seed: int) -> Path:
    return Path(study_dir) / f"seed_{seed}"


def is_study(path: str | Path) -> bool:
    return (Path(path) / STUDY_FILE).is_file()


def write_study(path: str | Path, document: dict[str, Any]) -> None:
    atomic_write_text(Path(path) / STUDY_FILE, json.dumps({**document, "format": STUDY_FORMAT}, indent=2))


def read_study(path: str | Path) -> dict[str, Any]:
    """The study document of a study folder (raises StudyError when there is none)."""
    marker = Path(path) / STUDY_FILE
    try:
        document = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StudyError(f"{path} is not a KD Lens study folder (no readable {STUDY_FILE}: {exc})") from None
    if not isinstance(document, dict) or document.get("format") != STUDY_FORMAT:
        raise StudyError(f"{marker} is not a KD Lens study file")
    return document
