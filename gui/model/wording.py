"""The engine's messages in the window's words (Qt-free).

The engine's messages are shared with the command line, where "resume it with --resume" is the
right advice. In the window there are no flags: a message is translated at the window's edge
(the run model's log, failures and status, and the window's error boxes), first whole phrases that
name a command (``kdlens-cli train --resume RUN``), then each remaining flag by what the window
calls that setting. A flag the table does not know becomes its name in words ("the metrics n
setting"), never ``--metrics-n``.
"""

from __future__ import annotations

import re

__all__ = ["for_window"]

CONTINUE = "Run > Continue interrupted run, Ctrl+Shift+R"

#: Whole phrases first (they name a command line), in the order they are tried.
PHRASES: tuple[tuple[str, str], ...] = (
    (r"resume with: kdlens-cli train --resume \S+", f"Continue resumes it ({CONTINUE})"),
    (
        r"resume it without a config \(kdlens-cli train --resume RUN_DIR\)",
        f"open it and continue it ({CONTINUE})",
    ),
    (r"resume the run \(kdlens-cli train --resume\)", f"open the run and continue it ({CONTINUE})"),
    (r"or resume the run there with --resume", f"or open that run and continue it ({CONTINUE})"),
    (r"`?kdlens-cli train --resume(?: RUN_DIR| \S+)?`?", CONTINUE),
    (
        r"pick the folder that `kdlens-cli train --out` or `demo --out` created",
        "pick a folder that a training run or the demo wrote",
    ),
    (
        r"the folder that `kdlens-cli analyze --out` or the window's analysis wrote",
        "a folder that an analysis wrote",
    ),
    (r"point --data at", "choose as the data"),
    (r"Give another --out folder\.", "Choose another Folder in the Setup panel."),
    (r"--device cuda was asked for", "The GPU (CUDA) device was chosen"),
    (r"use --device cpu", "choose the CPU device in the Setup panel"),
    (r"trust=True in Python, or kdlens-cli analyze --trust\S*", "confirm it when the window asks"),
    (
        r"\(--trust-code on the command line; the window asks you to confirm\)",
        "(the window asks you to confirm)",
    ),
    (r"\(torchrun --nproc-per-node N -m engine\.cli \.\.\.\) or with --nproc N", "(Setup > Processes)"),
)

#: A flag's name in the window (what remains after the phrases).
FLAGS = {
    "out": "the Folder field",
    "resume": f"Continue ({CONTINUE})",
    "device": "the Device choice",
    "data": "the data folder",
    "arch": "the architecture",
    "arch-teacher": "the teacher's architecture",
    "arch-student": "the student's architecture",
    "arch-base": "the base's architecture",
    "model-file": "the model file",
    "trust": "trusting the file",
    "trust-code": "trusting the file",
    "layers": "the layers",
    "embeddings": "the class embeddings",
    "image-size": "the image size",
    "nproc": "the Processes setting",
    "seeds": "the seeds",
    "mean": "the normalisation mean",
    "std": "the normalisation standard deviation",
    "key-teacher": "the teacher's checkpoint key",
    "key-student": "the student's checkpoint key",
    "key-base": "the base's checkpoint key",
}

_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")
_COMPILED = tuple((re.compile(pattern), words) for pattern, words in PHRASES)


def for_window(message: str) -> str:
    """``message`` without command-line flags or commands (unchanged when it names none)."""
    if "--" not in message and "kdlens-cli" not in message:
        return message
    for pattern, words in _COMPILED:
        message = pattern.sub(words, message)
    message = _FLAG.sub(lambda match: FLAGS.get(match.group(1), _in_words(match.group(1))), message)
    return message.replace("kdlens-cli", "the command line")


def _in_words(flag: str) -> str:
    return f"the {flag.replace('-', ' ')} setting"
