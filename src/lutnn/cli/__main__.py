"""``python -m lutnn.cli``: the ``lutnn`` command."""

import sys

from lutnn.cli import main

sys.exit(main())
