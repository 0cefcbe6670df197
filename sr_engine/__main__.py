"""``python -m sr_engine``: the command line of :mod:`sr_engine.cli`."""

from .cli import main

raise SystemExit(main())
