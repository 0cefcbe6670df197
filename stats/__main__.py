"""``python -m stats``: see stats/cli.py."""

import sys

from .cli import main

sys.exit(main())
