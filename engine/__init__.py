"""KD Lens engine: models, data, statistics, CAMs, metrics and training. Never imports Qt."""

__version__ = "0.1.0"
