"""Evidence a KD researcher would accept (SPEC §10), one registered kind per module
(:mod:`engine.evidence.registry`): ``localisation`` (how much of a map lies on the object),
``faithfulness`` (ROAD, as the grad-cam package implements it), ``sanity`` (cascading
randomisation of the explained model), ``agreement`` (how faithfully each model imitates the
teacher's predictions) and ``calibration`` (ECE and reliability); ``intervals`` gives their
intervals and verdicts, ``context`` what they run on, ``gather`` runs them all.

The imports below register the kinds, in the order they run and are shown: a new kind is one
module plus one line here. None of them imports torch until it runs.
"""

from engine.evidence import localisation as localisation  # noqa: I001 (registration order)
from engine.evidence import faithfulness as faithfulness
from engine.evidence import sanity as sanity
from engine.evidence import agreement as agreement
from engine.evidence import calibration as calibration
