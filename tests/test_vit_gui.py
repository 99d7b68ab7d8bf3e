"""The window's architecture search with vision transformers (issue 20): small transformers for
32 px images are offered first, and a timm name with timm's options after a ``?`` goes into the
training configuration unchanged."""

from __future__ import annotations

from engine.models import TIMM_EXAMPLES
from engine.training.config import TrainConfig
from gui.model.run_model import RunModel


def test_the_search_offers_small_transformers_and_keeps_timm_options(qtbot) -> None:
    from gui.jobs.choices import read_choices
    from gui.panels.setup import SetupPanel

    panel = SetupPanel(RunModel())
    qtbot.addWidget(panel)
    panel.set_preset("")
    panel.set_choices(read_choices())
    student = panel.roles["student"].arch
    found = student.matches("vit_tiny")
    assert found[0] == TIMM_EXAMPLES[0] and "timm:vit_tiny_patch16_224" in found
    assert "swin" in student.matches("swin_tiny")[0] and "?" in student.toolTip()
    for role in ("student", "base"):
        panel.roles[role].arch.setCurrentText(TIMM_EXAMPLES[1])
    config = TrainConfig.from_dict(panel.config_dict())
    assert config.student.arch == config.base.arch == TIMM_EXAMPLES[1]
