"""``python -m ipt_outcomes.cli``: the same as the ``ipt-outcomes`` command."""

import sys

from . import main

sys.exit(main())
