"""``python -m engine.cli ...`` (what torchrun and scripts call): the same as ``kdlens-cli``."""

import sys

from engine.cli.entry import main

sys.exit(main())
