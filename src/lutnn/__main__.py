"""``python -m lutnn``: the command line (:mod:`lutnn.cli`)."""

import sys

from lutnn.cli import main

sys.exit(main())
