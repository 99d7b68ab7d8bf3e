"""The key facts an HTML report states, as (name, text) pairs: from an analysis manifest or from a
run folder's configuration, state and history; and the probe images' labels and predictions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.events import ProbeFrame
from engine.runs.notices import run_notices

__all__ = ["analysis_facts", "probe_rows", "run_facts"]

_SHOWN_CLASSES = 12


def _classes(names: list[str] | tuple[str, ...]) -> str:
    shown = ", ".join(names[:_SHOWN_CLASSES])
    more = f", ... ({len(names)} in all)" if len(names) > _SHOWN_CLASSES else f" ({len(names)})"
    return shown + more


def _device(device: Any) -> str:
    if not isinstance(device, Mapping):
        return str(device or "cpu")
    gpu = f" ({device['gpu']})" if device.get("gpu") else ""
    cast = f", forward passes autocast to {device['autocast']}" if device.get("autocast") else ""
    return f"{device.get('device', 'cpu')}{gpu}{cast}"


def analysis_facts(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What an analysis read and how (from its manifest)."""
    config = manifest.get("config", {}) or {}
    data = manifest.get("data", {}) or {}
    facts = [
        (role, f"{entry.get('arch', '?')} — {entry.get('path', '?')}")
        for role, entry in (manifest.get("checkpoints") or {}).items()
    ]
    split = f" (split {config['split']})" if config.get("split") else ""
    facts.append(
        ("data", f"{data.get('source', config.get('data', '?'))}{split}: {data.get('images', '?')} images")
    )
    if data.get("classes"):
        facts.append(("classes", _classes(list(data["classes"]))))
    probe = manifest.get("probe_indices") or []
    sets = dict(manifest.get("sets") or {})
    facts += [
        (
            "probe images",
            f"{sets.pop('probe set', f'{len(probe)} images')}, class-balanced, seed "
            f"{manifest.get('seed', '?')}; they are the UniCAM context batch",
        ),
        (
            "metrics set",
            f"{sets.pop('metrics set', f'{len(manifest.get("metrics_indices") or [])} images')}, "
            f"{config.get('repeats', '?')} subsamples for the 5-95 % band",
        ),
        *((f"evidence: {name}", text) for name, text in sets.items()),
        ("CAM layers", ", ".join(f"{r}: {layer}" for r, layer in (manifest.get("cam_layers") or {}).items())),
        ("metric taps", "; ".join(f"{r}: {', '.join(t)}" for r, t in (manifest.get("layers") or {}).items())),
        ("class embeddings", str(manifest.get("embedding_source", "?"))),
        ("UniCAM objective", str(manifest.get("objective", "?"))),
        ("device", _device(manifest.get("device"))),
    ]
    if manifest.get("normalization"):
        norm = manifest["normalization"]
        facts.append(("input normalisation", f"mean {norm.get('mean')}, std {norm.get('std')}"))
    for part, note in ((manifest.get("evidence") or {}).get("notes") or {}).items():
        facts.append((f"evidence: {part}", str(note)))
    flagged = [k for k, v in (manifest.get("flags") or {}).items() if v]
    if flagged:
        facts.append(("warning", f"no unique features found ({', '.join(flagged)}): those maps are all zero"))
    if manifest.get("created"):
        facts.append(("analysed", str(manifest["created"])))
    return [(name, text) for name, text in facts if text]


def _read_json(path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def run_facts(run) -> list[tuple[str, str]]:
    """What a training run trained and how far it got (``run``: an ``engine.runs.RunDir``)."""
    config, state = _read_json(run.config_path), _read_json(run.state_path)
    facts = []
    for role in ("teacher", "assistant", "base", "student"):
        entry = config.get(role)
        if isinstance(entry, Mapping):
            how = (
                f"loaded from {entry['load']}"
                if entry.get("load")
                else f"trained {entry.get('epochs', '?')} epochs"
            )
            facts.append((role, f"{entry.get('arch', '?')}, {how}"))
    dataset = config.get("dataset") or {}
    facts.append(("data", f"{dataset.get('source', '?')}, {dataset.get('image_size', '?')} px"))
    kd = config.get("kd") or {}
    params = ", ".join(f"{k}={v}" for k, v in (kd.get("params") or {}).items())
    facts.append(("KD loss", f"{kd.get('loss', '?')}{f' ({params})' if params else ''}"))
    facts += [
        ("seed", str(config.get("seed", "?"))),
        ("device", str(config.get("device", "cpu"))),
        (
            "probe / metrics set",
            f"{config.get('probe_size', '?')} / {config.get('metrics_size', '?')} held-out images",
        ),
        ("state", "finished" if state.get("finished") else "interrupted (it can be continued)"),
        ("completed epochs", ", ".join(f"{r}: {e}" for r, e in (state.get("completed") or {}).items())),
    ]
    last = {}
    for summary in run.read_history():
        last[summary.role] = summary
    for role, summary in last.items():
        held = "n/a" if summary.heldout_accuracy is None else f"{summary.heldout_accuracy:.1%}"
        facts.append((f"{role} held-out accuracy", f"{held} (epoch {summary.epoch})"))
    facts += [("notice", notice) for notice in run_notices(run)]  # e.g. a teacher weaker than the base
    return [(name, text) for name, text in facts if text]


def probe_rows(frame: ProbeFrame) -> list[list[str]]:
    """Per probe image: its index, label and each role's predicted class with its probability."""
    indices = frame.indices if frame.indices is not None else np.arange(len(frame.images))
    names = frame.class_names
    rows = []
    for i in range(len(frame.images)):
        label = int(frame.labels[i])
        cells = [f"#{int(indices[i])}", names[label] if 0 <= label < len(names) else "unknown"]
        for probabilities in frame.predictions.values():
            p = np.asarray(probabilities[i])
            k = int(p.argmax())
            cells.append(f"{names[k] if k < len(names) else k} ({p[k]:.0%})")
        rows.append(cells)
    return rows
