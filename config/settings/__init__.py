"""Settings for the reader-study platform.

``base`` holds everything shared; ``local`` is the demo/development set-up
(DEBUG on, embedded defaults), ``test`` is what the test suite runs under and
``production`` takes its secrets from the environment with DEBUG off.
"""
