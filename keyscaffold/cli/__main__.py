"""``python -m keyscaffold.cli``: the console script."""

import sys

from keyscaffold.cli import main

sys.exit(main())
