"""The optional dependencies: torch for the learned methods, nilearn for the brain phantoms.

The base install (``pip install /path/to/repo``) gives the classical methods, simulation,
metrics and volume I/O; the learned methods (``selfsr``, ``resnet3d``, ``resnet2d``,
training, weight files) need torch, installed with the ``[sr]`` extra
(``pip install "/path/to/repo[sr]"``; the ``model`` method's ONNX files also need
onnxruntime, in the same extra), and the brain phantoms need nilearn (the
``[phantom]`` extra). :func:`require` checks without importing, so that a missing
package is reported before any work starts, in a message that says what to install.
"""

import importlib.util

#: The optional packages of each extra, with the versions the extra installs (the first is the main one).
EXTRAS = {"sr": {"torch": "2.13.0", "onnxruntime": "1.32.0"}, "phantom": {"nilearn": "0.14.1"}}


class MissingDependency(ImportError):
    """A feature needs an optional package that is not installed; the message says how to get it."""


def require(extra: str, what: str, module: str | None = None) -> None:
    """Raise :class:`MissingDependency` if ``module`` (default: the main package of ``extra``) is not
    installed; ``what`` needs it."""
    module = module or next(iter(EXTRAS[extra]))
    version = EXTRAS[extra][module]
    if importlib.util.find_spec(module) is None:
        raise MissingDependency(
            f"{what} needs {module}, which is not installed. Install the [{extra}] extra: "
            f'pip install "/path/to/the/repository[{extra}]" (or pip install {module}=={version}).',
            name=module,
        )


def require_torch(what: str) -> None:
    """Raise :class:`MissingDependency` unless torch (the ``[sr]`` extra) is installed."""
    require("sr", what)
