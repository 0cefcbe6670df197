"""Settings for bench/peer_viewer.py: bench/settings_bench.py plus OHIF's built viewer on the same origin.

``bench/urls_peer.py`` adds, after every URL of the app, the files of OHIF's ``dist/``
folder (``READERSTUDY_BENCH_OHIF_DIST``), the ``app-config.js`` the benchmark wrote
(``READERSTUDY_BENCH_OHIF_CONFIG``) and OHIF's single-page routes. Bench only: the app never
serves or depends on OHIF.
"""

import os
from pathlib import Path

from bench.settings_bench import *  # noqa: F403

ROOT_URLCONF = "bench.urls_peer"

#: OHIF's built viewer (the ``dist/`` folder of the npm package) and the configuration it loads.
READERSTUDY_BENCH_OHIF_DIST = Path(os.environ.get("READERSTUDY_BENCH_OHIF_DIST", "/nonexistent"))
READERSTUDY_BENCH_OHIF_CONFIG = Path(os.environ.get("READERSTUDY_BENCH_OHIF_CONFIG", "/nonexistent"))
