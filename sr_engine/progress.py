"""Progress reporting shared by every long-running sr_engine function.

Functions take a ``progress`` argument that is one of:

* ``None`` or ``False``: silent;
* ``True``: a progress bar on stderr (tqdm), for the command line;
* a callable ``progress(fraction)`` with ``fraction`` in 0..1, e.g. the web app's job
  runner, which stores it so the coordinator's console can show it.

:func:`progress_reporter` turns that argument into one object to call, and
:meth:`Reporter.part` hands a sub-range of the bar to a sub-step.
"""

from collections.abc import Callable

ProgressArg = bool | Callable[[float], None] | None


class Reporter:
    """Reports a fraction done (0..1), monotonically, to a bar or a callback."""

    def __init__(self, progress: ProgressArg, description: str = "", *, _bar=None, _span=(0.0, 1.0)) -> None:
        self._callback: Callable[[float], None] | None = None
        self._bar = _bar
        self._owns_bar = False
        self._span = _span
        self._last = 0.0
        if callable(progress) and not isinstance(progress, bool):
            self._callback = progress
        elif progress is True and _bar is None:
            from tqdm import tqdm  # imported here: silent callers need no tqdm

            self._bar = tqdm(total=1000, desc=description or None, unit="‰", leave=True)
            self._owns_bar = True

    def __call__(self, fraction: float) -> None:
        """Report that ``fraction`` (0..1) of this reporter's work is done."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        if fraction < self._last:
            return
        self._last = fraction
        start, stop = self._span
        overall = start + (stop - start) * fraction
        if self._callback is not None:
            self._callback(overall)
        if self._bar is not None:
            self._bar.update(max(round(overall * 1000) - self._bar.n, 0))

    def part(self, start: float, stop: float) -> "Reporter":
        """A reporter for the sub-step that covers ``start``..``stop`` of this one."""
        low, high = self._span
        span = (low + (high - low) * start, low + (high - low) * stop)
        child = Reporter(None, _bar=self._bar, _span=span)
        child._callback = self._callback
        return child

    def close(self) -> None:
        """Mark the work done and close the bar this reporter opened."""
        self(1.0)
        if self._owns_bar and self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Reporter":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        elif self._owns_bar and self._bar is not None:
            self._bar.close()


def progress_reporter(progress: ProgressArg, description: str = "") -> Reporter:
    """A :class:`Reporter` for a ``progress`` argument (None, True or a callable)."""
    if isinstance(progress, Reporter):
        return progress
    return Reporter(progress, description)
