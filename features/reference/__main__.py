"""``python -m features.reference``: regenerate docs/cli.md and docs/config.md (see the package)."""

import sys

from features.reference import main

sys.exit(main())
