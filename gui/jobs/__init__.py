"""Running engine jobs for the window: ``bridge`` (the one worker thread and its signals),
``explainer`` (image files explained on the window's second bridge), ``child`` (a job in a child
process; Qt-free, the child imports it), ``factories`` (the jobs the window starts) and
``choices`` (the engine's registries, read in a child process)."""
