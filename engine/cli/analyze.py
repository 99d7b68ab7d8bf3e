"""`kdlens-cli analyze`: explain given teacher / student / base checkpoints on an image folder,
CIFAR pickles or an image list."""

from __future__ import annotations

import argparse

from engine.cli.progress import show_job
from engine.events import MetricsRow, Progress
from engine.evidence.registry import analysis_key, evidence_kinds, flag

EXAMPLE = (
    "kdlens-cli analyze --teacher t.safetensors --student s.safetensors --base b.safetensors "
    "--data DIR --out report"
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="heatmaps and FSS/RS for given checkpoints",
        description="Distilled and residual UniCAM maps, Grad-CAM and FSS/RS per layer for a teacher, "
        "a KD student and a base, written to a report folder.",
        epilog=f"example: {EXAMPLE}",
    )
    p.add_argument("--teacher", required=True, help="teacher checkpoint (.safetensors with sidecar, or .pt)")
    p.add_argument("--student", required=True, help="KD student checkpoint")
    p.add_argument("--base", required=True, help="base checkpoint (student architecture, trained without KD)")
    p.add_argument(
        "--data", required=True, help="ImageFolder tree, CIFAR folder, CSV/TSV image list, or 'shapes'"
    )
    p.add_argument("--out", required=True, help="report folder to write")
    p.add_argument("--split", default="test", help="which split of --data to use (default: test, if present)")
    p.add_argument("--arch-teacher", help="teacher architecture when its checkpoint has no sidecar")
    p.add_argument("--arch-student", help="student/base architecture when their checkpoints have no sidecar")
    p.add_argument("--layers", default="", help="comma-separated metric taps (default: each model's stages)")
    p.add_argument("--probe", type=int, default=16, help="probe images = UniCAM context batch (default 16)")
    p.add_argument("--metrics-n", type=int, default=256, help="images in the metrics set (default 256)")
    p.add_argument("--repeats", type=int, default=10, help="subsamples for the 5-95 %% band (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--embeddings", default="one-hot", help="one-hot (default), prototypes, or a .npy/.pt/.csv file"
    )
    p.add_argument("--objective", choices=("label", "unique"), default="label")
    _evidence_flags(p)
    p.add_argument("--image-size", type=int, help="resize images to this size (default: the student's)")
    p.add_argument(
        "--mean", metavar="R,G,B",
        help="the inputs' normalisation mean, as the models were trained (default: what the checkpoints' "
        "cards or their run folder state; needs --std)",
    )  # fmt: skip
    p.add_argument("--std", metavar="R,G,B", help="the inputs' normalisation std (with --mean)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    p.add_argument("--trust", action="store_true", help="allow pickled checkpoints that run code on load")
    p.add_argument(
        "--nproc", type=int, default=1, metavar="N",
        help="share the FSS/RS feature passes and distance matrices over N local processes (Gloo/NCCL)",
    )  # fmt: skip
    _own_model_flags(p)
    p.set_defaults(run=run)


def _evidence_flags(p: argparse.ArgumentParser) -> None:
    """--no-evidence, every evidence kind's options (from its registry record), and the extras."""
    evidence = p.add_argument_group("evidence (on by default; intervals and verdicts for every claim)")
    evidence.add_argument(
        "--no-evidence", dest="evidence", action="store_false",
        help=f"skip the evidence ({', '.join(kind.title for kind in evidence_kinds())})",
    )  # fmt: skip
    for kind in evidence_kinds():
        for option in kind.options:
            shown = ",".join(map(str, option.default)) if option.many else option.default
            evidence.add_argument(
                flag(kind, option),
                dest=analysis_key(kind, option),
                default=None,
                metavar="N,N,.." if option.many else "N",
                type=_whole_numbers if option.many else int,
                help=f"{kind.title}: {option.help} (default {shown})",
            )
    evidence.add_argument("--fss-v", action="store_true", help="also FSSv: row-normalised V-statistic dCor")
    evidence.add_argument(
        "--teacher-maps", action="store_true", help="also UniCAM teacher|student and student|teacher maps"
    )
    evidence.add_argument(
        "--prototype-split", default="train",
        help="split whose images make teacher prototypes (--embeddings prototypes); never the scored images",
    )  # fmt: skip


def _own_model_flags(p: argparse.ArgumentParser) -> None:
    """Models KD Lens does not know by name: a model file, and which model of a checkpoint."""
    own = p.add_argument_group(
        "your own models",
        "Architectures: any name KD Lens lists, timm:<name> (e.g. timm:resnet26d) with timm's options "
        "after a ? (timm:vit_tiny_patch16_224?img_size=32&patch_size=4; quote it in a shell), or your own "
        "from --model-file. TorchScript archives need no architecture. Released 224 px transformers: "
        "--image-size 224.",
    )
    own.add_argument(
        "--model-file", metavar="FILE.py",
        help="Python file defining build(arch, num_classes) for architectures KD Lens does not know; "
        "it runs your code, so it needs --trust-code",
    )  # fmt: skip
    own.add_argument("--trust-code", action="store_true", help="I trust --model-file: run its code")
    for role in ("teacher", "student", "base"):
        own.add_argument(
            f"--key-{role}", metavar="KEY",
            help=f"which model of the {role} checkpoint to load when it holds several (e.g. student or "
            "teacher of a KD trainer, or state_dict.student)",
        )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from engine.jobs.analyze_config import AnalyzeConfig, parse_triple
    from engine.reports.folder import check_report_out

    config = AnalyzeConfig(
        teacher=args.teacher, student=args.student, base=args.base, data=args.data, out=args.out,
        split=args.split or None, arch_teacher=args.arch_teacher, arch_student=args.arch_student,
        layers=tuple(t for t in args.layers.split(",") if t), probe=args.probe, metrics_n=args.metrics_n,
        repeats=args.repeats, seed=args.seed, embeddings=args.embeddings, objective=args.objective,
        image_size=args.image_size, device=args.device, trust=args.trust,
        model_file=args.model_file, trust_code=args.trust_code,
        key_teacher=args.key_teacher, key_student=args.key_student, key_base=args.key_base,
        evidence=args.evidence, evidence_options=_evidence_options(args), fss_v=args.fss_v,
        teacher_maps=args.teacher_maps, prototype_split=args.prototype_split,
        mean=None if args.mean is None else parse_triple(args.mean, "--mean"),
        std=None if args.std is None else parse_triple(args.std, "--std"),
    )  # fmt: skip
    config.check()  # a bad value or a missing file is answered before the engine is imported
    check_report_out(config.out)
    rows: list[MetricsRow] = []

    def keep_rows(event) -> None:
        if isinstance(event, MetricsRow):
            rows.append(event)

    finished = show_job(_analysis(config, args.nproc), on_event=keep_rows)
    if finished is not None:
        print(
            f"report written to {finished.out_dir} ({len(rows)} metric values, "
            f"{finished.summary['probe_images']} probe images, {finished.summary['seconds']} s)"
        )
    return 0


def _whole_numbers(text: str) -> tuple[int, ...]:
    """``10,20,30`` -> (10, 20, 30); argparse turns a ValueError into one line and exit code 2."""
    return tuple(int(part) for part in text.split(",") if part.strip())


def _evidence_options(args: argparse.Namespace) -> dict:
    """The evidence flags the user gave, by their setting (the rest keep their kind's default)."""
    keys = [analysis_key(kind, option) for kind in evidence_kinds() for option in kind.options]
    return {key: getattr(args, key) for key in keys if getattr(args, key, None) is not None}


def _analysis(config, nproc: int):
    """In this process; in ``--nproc`` local ranks; or as one rank of torchrun (its environment).
    The first progress line comes before the engine (PyTorch) is imported, so it shows at once."""
    yield Progress("analysis", 0, 0, 6, 0, 6, stage="starting the engine (PyTorch)")
    from engine import distributed
    from engine.jobs.analyze import analyze_job

    if nproc != 1:
        from engine.distributed.launch import launched_job

        if distributed.requested():
            raise distributed.DistributedError("--nproc starts its own processes; not under torchrun")
        yield from launched_job(nproc, "analyze", {"config": config})
        return
    if not distributed.requested():
        yield from analyze_job(config)
        return
    with distributed.joined() as ranks:
        events = analyze_job(config, group=ranks)
        if ranks is None or ranks.leader:
            yield from events
        else:  # rank 0 shows and writes the report
            for _ in events:
                pass
