"""The table ``bench_scale.py`` prints: one line per stage, one column per N, each cell the
stage's time and, where it has a floor, the floor and the ratio (both measured in that run), then
peak memory and the load average. Markdown, so it goes into bench/README.md as printed."""

from __future__ import annotations

#: (what the table calls it, the timing's name, the floor's name or None)
ROWS = (
    ("first progress line (process start to it)", "first progress line", None),
    ("start-up (process start to the first stage: the imports)", "start-up", None),
    ("loading checkpoints and data", "loading checkpoints", None),
    ("class embeddings (one-hot)", "class embeddings", None),
    ("maps: Grad-CAM and UniCAM of the probe set", "Grad-CAM and UniCAM", "Grad-CAM and UniCAM"),
    ("FSS/RS: forward passes", "FSS / RS: forward passes", "FSS / RS: forward passes"),
    ("FSS/RS: distances", "FSS / RS: distances", "FSS / RS: distances"),
    ("FSS/RS: statistics", "FSS / RS: statistics", "FSS / RS: statistics"),
    ("**FSS/RS, the whole stage**", "FSS / RS", "FSS / RS"),
    ("evidence: localisation (no masks: a note)", "evidence: localisation", None),
    ("evidence: faithfulness (ROAD, with its maps)", "evidence: faithfulness", "evidence: faithfulness"),
    ("evidence: sanity", "evidence: sanity", "evidence: sanity"),
    ("evidence: agreement", "evidence: agreement", "evidence: agreement"),
    ("evidence: calibration (agreement's pass)", "evidence: calibration", None),
    ("evidence: layers", "evidence: layers", "evidence: layers"),
    ("evidence: classes", "evidence: classes", "evidence: classes"),
    ("**evidence, the whole stage**", "evidence", "evidence"),
    ("report writing (to the process's exit)", "report writing", None),
    ("**whole analyze** (process start to exit)", "whole analyze", None),
)
GOAL = 2.0  # every stage within twice its floor


def cell(result: dict, timing: str, floor: str | None) -> str:
    """``12.3 s / 8.1 s = **1.52x** (CPU s 1.31x)``, or the time alone where there is no floor."""
    spent = result["timings"].get(timing)
    if spent is None:
        return "n/a"
    if floor is None or floor not in result["floors"]:
        return f"{spent:.2f} s"
    text = f"{spent:.2f} s / {result['floors'][floor][0]:.2f} s = **{_ratio(result, timing, floor):.2f}x**"
    cpu = _ratio(result, timing, floor, cpu=True)
    return text + ("" if cpu is None else f" (CPU s {cpu:.2f}x)")


def memory_cells(result: dict) -> list[tuple[str, str]]:
    m = result["memory"]
    rows = [
        ("peak RSS of the analyze process", f"{m['peak_rss_mib']:.0f} MiB"),
        (
            "FSS/RS working set: peak RSS in the stage above its start, vs one tap's N x N + one block",
            f"{m['fss_rs_working_mib']:.0f} MiB above {m['fss_rs_start_mib']:.0f} MiB, vs "
            f"{m['bound_mib']:.0f} MiB ({m['matrices_mib']:.0f} + {m['bound_mib'] - m['matrices_mib']:.0f})",
        ),
    ]
    if m.get("gpu_peak_mib") is not None:
        peak, sampled = m["gpu_peak_mib"], m["gpu_sampled_mib"] or 0.0
        rows.append(("GPU max_memory_allocated (largest sampled)", f"{peak:.0f} MiB ({sampled:.0f})"))
    return rows


def print_table(results: list[dict]) -> None:
    """The table for ``results`` (one per N), then what the floors' CPU seconds say about load."""
    heads = [f"N = {r['n']:,} ({r['device']})" for r in results]
    print("| stage | " + " | ".join(heads) + " |")
    print("| --- |" + " --- |" * len(results))
    for title, timing, floor in ROWS:
        print(f"| {title} | " + " | ".join(cell(r, timing, floor) for r in results) + " |")
    for i, (title, _) in enumerate(memory_cells(results[0])):
        print(f"| {title} | " + " | ".join(memory_cells(r)[i][1] for r in results) + " |")
    print("| load average (1 min) after the run, after its floors | " + " | ".join(
        f"{r['load'][0]:.1f}, {r['load'][1]:.1f}" for r in results
    ) + " |")  # fmt: skip
    for r in results:
        for cpu, measure in ((False, "wall"), (True, "CPU")):
            over = [t for t, timing, floor in ROWS if floor and (_ratio(r, timing, floor, cpu) or 0) > GOAL]
            within = "every stage within 2x of its floor" if not over else "over 2x: " + "; ".join(over)
            print(f"N = {r['n']:,}, {measure} seconds: {within}")


def _ratio(result: dict, timing: str, floor: str, cpu: bool = False) -> float | None:
    """The stage's time over its floor's: wall seconds, or (``cpu``) CPU seconds where the
    stage's were sampled (None where not: a part of FSS/RS, whose parts interleave)."""
    spent = result.get("cpu", {}).get(timing) if cpu else result["timings"].get(timing)
    bare = result["floors"].get(floor, [0.0, 0.0])[1 if cpu else 0]
    if spent is None:
        return None
    return spent / bare if bare > 0 else float("inf")
