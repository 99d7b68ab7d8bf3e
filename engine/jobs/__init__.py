"""The engine's long jobs, each a generator of events checking a stop token (STYLE.md): ``train``
(teacher, base and student into a run folder), ``demo`` (the built-in presets), ``analyze``
(a report from given checkpoints), ``explain`` (one opened image); ``driver`` runs any of them
with the one error policy."""
