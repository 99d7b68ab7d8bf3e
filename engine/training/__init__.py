"""The training engine behind :func:`engine.jobs.train.train_job`: ``config`` (TrainConfig),
``setup`` (data, models and fixed sets, checked before any step), ``loop`` (one step's
pieces) and ``session`` (the phases, epoch by epoch)."""
