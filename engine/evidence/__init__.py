"""Evidence a KD researcher would accept (SPEC §10), one registered kind per module
(:mod:`engine.evidence.registry`): ``localisation`` (how much of a map lies on the object),
``faithfulness`` (ROAD, as the grad-cam package implements it), ``sanity`` (cascading
randomisation of the explained model), ``agreement`` (how faithfully each model imitates the
teacher's predictions), ``calibration`` (ECE and reliability), ``layers`` (the layer x layer map,
read off the metrics) and ``classes`` (per class: KD helped or hurt); ``intervals`` gives their
intervals and verdicts, ``context`` what they run on, ``gather`` runs them all.

The imports below register the kinds, in the order they run and are shown: a new kind is one
module plus one line here. None of them imports torch until it runs.
"""

from engine.evidence import localisation as localisation  # noqa: I001 (registration order)
from engine.evidence import faithfulness as faithfulness
from engine.evidence import sanity as sanity
from engine.evidence import agreement as agreement
from engine.evidence import calibration as calibration
from engine.evidence import layers as layers
from engine.evidence import classes as classes
