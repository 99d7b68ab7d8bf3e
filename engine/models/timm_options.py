"""timm's own keyword arguments inside an architecture name: ``timm:<name>?key=value&key=value``.

    timm:vit_tiny_patch16_224?img_size=32&patch_size=4&depth=2&embed_dim=96&num_heads=3

One syntax for every place a name is given: a training configuration's ``arch``, ``kdlens-cli
analyze --arch-teacher/--arch-student``, the window's architecture search. The options travel
inside the name, so model cards, run folders and reports keep them and an analysis rebuilds the
same model. Values are read as integers, decimals, ``true``/``false``, ``none``, comma lists
(``depths=2,2`` is a tuple), else as text. Keys are checked against the model's constructor.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Mapping

from engine.models.spec import ModelError

__all__ = ["OptionValue", "arch_label", "check_options", "split_options"]

OptionValue = int | float | bool | str | None | tuple
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
#: keys KD Lens sets itself, and why the user may not
_RESERVED = {
    "num_classes": "KD Lens sets the class count from the data or the checkpoint",
    "pretrained": "nothing is downloaded; the weights come from your checkpoint",
    "pretrained_cfg": "nothing is downloaded; the weights come from your checkpoint",
    "pretrained_cfg_overlay": "nothing is downloaded; the weights come from your checkpoint",
    "checkpoint_path": "give the checkpoint to KD Lens (load / --teacher ...), not to timm",
    "features_only": "KD Lens needs the whole classifier",
    "device": "KD Lens places the model itself (--device, the config's device)",
    "dtype": "KD Lens keeps the model in float32 and uses autocast on a GPU",
}


def split_options(name: str) -> tuple[str, dict[str, OptionValue]]:
    """(model name, options) of ``<name>?key=value&...`` (the ``timm:`` prefix already removed)."""
    model, _, query = str(name).partition("?")
    name = f"timm:{name}"
    options: dict[str, OptionValue] = {}
    for part in filter(None, (p.strip() for p in query.split("&"))):
        key, equals, text = (s.strip() for s in part.partition("="))
        if not equals or not _KEY.fullmatch(key) or not text:
            raise ModelError(
                f"cannot read the option {part!r} of {name!r}; write timm options as key=value pairs "
                "joined by &, e.g. timm:vit_tiny_patch16_224?img_size=32&patch_size=4"
            )
        if key in options:
            raise ModelError(f"the option {key!r} is given twice in {name!r}; give it once")
        if key in _RESERVED:
            raise ModelError(f"the option {key!r} of {name!r} cannot be set: {_RESERVED[key]}")
        options[key] = _value(text)
    return model.strip(), options


def _value(text: str) -> OptionValue:
    if "," in text:
        return tuple(_value(item.strip()) for item in text.split(",") if item.strip())
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if _NUMBER.fullmatch(text):
        number = float(text)
        return int(number) if re.fullmatch(r"[-+]?\d+", text) else number
    return text


def _text(value: OptionValue) -> str:
    if isinstance(value, tuple):
        return ",".join(_text(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value)


def arch_label(prefix: str, model: str, options: Mapping[str, OptionValue]) -> str:
    """The name written back: ``<prefix><model>?key=value&...`` in the given order (no ``?``
    without options), values spelled as :func:`split_options` reads them."""
    query = "&".join(f"{key}={_text(value)}" for key, value in options.items())
    return f"{prefix}{model}{'?' + query if query else ''}"


def check_options(label: str, model_class: type, options: Mapping[str, OptionValue]) -> None:
    """Refuse a key that ``model_class``'s constructor does not take, naming the ones it does."""
    parameters = inspect.signature(model_class.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return  # the class passes keywords on; timm itself judges them when the model is built
    known = [name for name, p in parameters.items() if name != "self" and p.kind is not p.VAR_POSITIONAL]
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ModelError(
                f"{label}: timm's {model_class.__name__} takes no option {key!r}; {hint}its options are: "
                f"{', '.join(k for k in known if k not in _RESERVED)}"
            )
