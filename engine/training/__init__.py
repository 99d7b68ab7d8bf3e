"""The training engine behind engine.train: configuration, setup, the loop, live explanations
and the run-folder writer. Import the public names from :mod:`engine.train`."""
