"""The one probe-frame codec: every writer's file (run folder, analysis report, the window's export)
decodes with the one reader to exactly the frame that was written; slicing cuts every array alike."""

from __future__ import annotations

import numpy as np
import pytest

from engine.events import ProbeFrame
from engine.frames import (
    FrameFormatError,
    decode_probe_frame,
    encode_probe_frame,
    read_probe_frame,
    slice_frame,
)
from engine.reports.writer import write_report
from engine.runs.writer import RunWriter
from engine.vocab import MAP_KEYS


def _frame(n: int = 5, size: int = 8, epoch: int = 3) -> ProbeFrame:
    rng = np.random.default_rng(epoch)
    maps = {key: rng.random((n, size, size), dtype=np.float32) for key in MAP_KEYS}
    return ProbeFrame(
        epoch=epoch,
        images=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        labels=np.arange(n, dtype=np.int64) % 3,
        class_names=("a", "b", "c"),
        maps=maps,
        signed={key: value[:, ::4, ::4] - 0.5 for key, value in maps.items()},
        raw={key: value * 7 for key, value in maps.items()},
        predictions={"teacher": rng.random((n, 3), dtype=np.float32)},
        masks=rng.random((n, size, size)) > 0.5,
        indices=np.arange(n, dtype=np.int64) * 11,
        flags={"context_indices": [1, 2, 3], "no_unique_features": False, "note": "x"},
    )


def assert_same(a: ProbeFrame, b: ProbeFrame) -> None:
    assert (a.epoch, a.class_names, a.flags) == (b.epoch, b.class_names, b.flags)
    for name in ("images", "labels", "masks", "indices"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for group in ("maps", "signed", "raw", "predictions"):
        assert getattr(a, group).keys() == getattr(b, group).keys()
        for key, value in getattr(a, group).items():
            np.testing.assert_array_equal(value, getattr(b, group)[key])
            assert value.dtype == getattr(b, group)[key].dtype


def test_bytes_round_trip():
    frame = _frame()
    assert_same(decode_probe_frame(encode_probe_frame(frame)), frame)


def test_the_run_folder_writer_decodes(tmp_path):
    frame = _frame()
    path = RunWriter(tmp_path / "run").write_probe(frame)
    assert path.name == "epoch_0003.npz"
    assert_same(read_probe_frame(path), frame)


def test_the_report_writer_decodes_image_by_image(tmp_path):
    frame = _frame(n=4)
    write_report(tmp_path / "report", frame, [], {"seed": 0})
    for position in range(4):
        single = read_probe_frame(tmp_path / "report" / "maps" / f"probe_{position:03d}.npz")
        assert_same(single, slice_frame(frame, [position]))
        assert single.indices.tolist() == [position * 11] and single.flags["context_indices"] == [1, 2, 3]


def test_slicing_cuts_every_per_image_array_alike():
    frame = _frame(n=5)
    cut = slice_frame(frame, [4, 1])
    np.testing.assert_array_equal(cut.maps["distilled"], frame.maps["distilled"][[4, 1]])
    np.testing.assert_array_equal(cut.signed["residual"], frame.signed["residual"][[4, 1]])
    np.testing.assert_array_equal(cut.masks, frame.masks[[4, 1]])
    assert cut.indices.tolist() == [44, 11] and cut.labels.tolist() == [1, 1]
    assert slice_frame(frame, slice(0, 1)).images.shape == (1, 8, 8, 3)


def test_a_file_that_is_no_frame_names_itself(tmp_path):
    bad = tmp_path / "maps.npz"
    np.savez(bad, something=np.zeros(3))
    with pytest.raises(FrameFormatError, match="maps.npz: not a KD Lens probe frame"):
        read_probe_frame(bad)
    (tmp_path / "cut.npz").write_bytes(encode_probe_frame(_frame())[:100])
    with pytest.raises(FrameFormatError, match="cut.npz"):
        read_probe_frame(tmp_path / "cut.npz")
