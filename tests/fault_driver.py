"""Kill a tiny training run at a chosen file operation, resume it, compare with an uninterrupted run.

Run by tests/test_resume_faults.py as a child process (one per worker):

    python tests/fault_driver.py WORKDIR WORKER WORKERS

It imports the engine once, with one thread, and forks a child per kill point: the child
installs a fault hook (:func:`engine.atomic.set_fault_hook`) that sends itself SIGKILL at the
n-th rename or removal, and trains; a second child resumes the killed folder (or starts it
again when nothing was committed, as a user would); the driver then compares the folder with
an uninterrupted run, bit for bit. It also kills a resume at each of its own file operations.
One JSON line per checked point goes to stdout.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from engine import atomic
from engine.jobs.demo import demo_config
from engine.jobs.train import train_job
from engine.runs import RunDir


def tiny_config():
    config = demo_config("kd-gain", quick=True)
    shapes = dict(config.dataset.shapes, teacher_size=32, student_size=32, test_size=16)
    return replace(
        config,
        threads=1,
        evidence=False,
        dataset=replace(config.dataset, shapes=shapes, image_size=16),
        teacher=replace(config.teacher, epochs=3, max_steps=1),  # 3 epochs: old states are removed
        batch_size=16,
        probe_size=8,
        metrics_size=8,
        metrics_repeats=1,
    )


def _train(out: Path, resume: bool) -> None:
    events = train_job(None, out, resume=True) if resume else train_job(tiny_config(), out)
    for _ in events:
        pass


def _in_child(work, *args) -> int:
    """Run ``work(*args)`` in a forked child; its exit status (negative: killed by that signal)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            work(*args)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _killed_at(n: int, out: Path, resume: bool) -> None:
    atomic.set_fault_hook(_kill_hook(n))
    _train(out, resume)
    os._exit(3)  # the run ended before its n-th file operation


def _kill_hook(n: int):
    seen = [0]

    def hook(_kind, _path):
        seen[0] += 1
        if seen[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def _counted(out: Path, resume: bool, log: Path) -> None:
    ops = []
    atomic.set_fault_hook(lambda kind, path: ops.append(f"{kind} {Path(path).relative_to(out.parent)}"))
    try:
        _train(out, resume)
    finally:
        log.write_text(json.dumps(ops))


def _resume(out: Path) -> None:
    run = RunDir(out)
    _train(out, resume=run.is_run() or run.is_started())


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _content(path: Path, root: Path):
    name = path.relative_to(root).as_posix()
    if path.suffix == ".safetensors":
        return load_file(str(path))
    if path.suffix == ".pt":
        return torch.load(path, map_location="cpu", weights_only=True)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return {key: torch.from_numpy(np.array(data[key])) for key in data.files}
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
    if name == "state.json":
        state = json.loads(path.read_text())
        state.get("summary", {}).pop("out_dir", None)
        return state
    return path.read_bytes()


def compare_runs(reference: Path, run: Path) -> list[str]:
    """Differences between two run folders (empty: the same, bit for bit, but for timings)."""
    files = {
        p.relative_to(root).as_posix()
        for root in (reference, run)
        for p in root.rglob("*")
        if p.is_file() and p.name != ".kdlens.lock"
    }
    problems = []
    for name in sorted(files):
        a, b = reference / name, run / name
        if not a.is_file() or not b.is_file():
            problems.append(f"{name}: only in {'the reference' if a.is_file() else 'the resumed run'}")
        elif not _same(_content(a, reference), _content(b, run)):
            problems.append(f"{name}: differs")
    return problems


def main(work: Path, worker: int, workers: int) -> None:
    torch.set_num_threads(1)
    work.mkdir(parents=True, exist_ok=True)
    reference, log = work / "reference", work / "ops.json"
    assert _in_child(_counted, reference, False, log) == 0, "the uninterrupted run failed"
    ops = json.loads(log.read_text())
    print(json.dumps({"total": len(ops)}), flush=True)

    def check(label: str, out: Path) -> None:
        code = _in_child(_resume, out)
        problems = [f"resume exited with {code}"] if code else compare_runs(reference, out)
        print(json.dumps({"point": label, "problems": problems}), flush=True)
        shutil.rmtree(out, ignore_errors=True)

    for n in range(1 + worker, len(ops) + 1, workers):
        out = work / f"run_{n}"
        code = _in_child(_killed_at, n, out, False)
        if code != -signal.SIGKILL:
            problems = [f"not killed ({code})"]
            print(json.dumps({"point": f"{n} {ops[n - 1]}", "problems": problems}), flush=True)
            continue
        check(f"{n} {ops[n - 1]}", out)

    # a resume killed at each of its own file operations (the first run killed mid KD epoch 1,
    # after its probe frame was written, before its metrics)
    first = next(i for i, op in enumerate(ops, start=1) if op == "renamed reference/probe/epoch_0001.npz")
    killed = work / "killed"
    _in_child(_killed_at, first + 1, killed, False)
    resume_log = work / "resume_ops.json"
    counting = work / "counting"
    shutil.copytree(killed, counting)
    assert _in_child(_counted, counting, True, resume_log) == 0, "the resume failed"
    resume_ops = json.loads(resume_log.read_text())
    print(json.dumps({"resume_total": len(resume_ops)}), flush=True)
    for m in range(1 + worker, len(resume_ops) + 1, workers):
        out = work / f"resume_{m}"
        shutil.copytree(killed, out)
        code = _in_child(_killed_at, m, out, True)
        label = f"resume {m} {resume_ops[m - 1]}"
        if code != -signal.SIGKILL:
            print(json.dumps({"point": label, "problems": [f"not killed ({code})"]}), flush=True)
            continue
        check(label, out)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
