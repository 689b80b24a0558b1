"""``python -m features`` is the ``fstore`` command."""

import sys

from features.cli import main

sys.exit(main())
