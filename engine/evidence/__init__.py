"""Evidence a KD researcher would accept (SPEC §10): ``intervals`` (bootstrap over images,
t-intervals over seeds, verdicts), ``localisation`` (how much of a map lies on the object),
``faithfulness`` (ROAD, as the grad-cam package implements it) and ``sanity`` (cascading
randomisation of the explained model)."""
