"""The convolutional networks of the learned super-resolution methods (torch modules).

:class:`ResNetSR` is the residual CNN of the MRSR/DeepResolve design (Chaudhari et al.,
"Super-resolution musculoskeletal MRI using deep learning", Magn Reson Med 80(5),
2018): ``depth`` layers of 3x3x3 convolutions with ``features`` filters, a ReLU after
every layer but the last, zero "same" padding, and residual learning: the network
predicts the residual that is added to its (tricubic-interpolated) input, so it only
has to learn the detail that interpolation misses (the global residual learning of
Kim et al., "Accurate image super-resolution using very deep convolutional
networks", CVPR 2016). With ``dims=2`` the same design with 3x3 kernels serves
in-plane factors and the 2D self-supervised method.

Importing this module imports torch; the rest of sr_engine imports it only when a
learned method runs.
"""

import contextlib
import os
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

#: Kernel size of every convolution; the receptive-field radius is depth * (KERNEL // 2).
KERNEL = 3

#: The last layer's initial weights are scaled by this (and its bias zeroed), so that an
#: untrained network is close to its input; the residual scaling of Lim et al., "Enhanced
#: deep residual networks for single image super-resolution" (EDSR), CVPRW 2017.
RESIDUAL_INIT_SCALE = 0.1


class ResNetSR(nn.Module):
    """Residual CNN: ``output = input + body(input)``, ``depth`` conv layers of ``features`` filters.

    Input and output have ``channels`` channels (2 for dual-echo DESS), layout
    ``(batch, channels, *spatial)`` with 3 spatial axes for ``dims=3`` and 2 for ``dims=2``.
    """

    def __init__(self, dims: int = 3, depth: int = 20, features: int = 64, channels: int = 1) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"ResNetSR is 2D or 3D; got dims={dims}.")
        if depth < 2:
            raise ValueError(f"ResNetSR needs at least 2 layers (one in, one out); got depth={depth}.")
        if features < 1 or channels < 1:
            raise ValueError("features and channels must be positive.")
        self.dims, self.depth, self.features, self.channels = dims, depth, features, channels
        conv = nn.Conv3d if dims == 3 else nn.Conv2d
        layers: list[nn.Module] = [
            conv(channels, features, KERNEL, padding=KERNEL // 2),
            nn.ReLU(inplace=True),
        ]
        for _ in range(depth - 2):
            layers += [conv(features, features, KERNEL, padding=KERNEL // 2), nn.ReLU(inplace=True)]
        last = conv(features, channels, KERNEL, padding=KERNEL // 2)
        layers.append(last)
        self.body = nn.Sequential(*layers)
        with torch.no_grad():  # start near the identity (the interpolated input), as residual nets do
            last.weight.mul_(RESIDUAL_INIT_SCALE)
            if last.bias is not None:  # always, with the default bias=True
                last.bias.zero_()

    @property
    def halo_needed(self) -> int:
        """The receptive-field radius in voxels: the halo a tile needs for exact tiled inference.

        Each 3x3(x3) convolution looks one voxel further, so an output voxel depends on
        the input within ``depth`` voxels along every axis.
        """
        return self.depth * (KERNEL // 2)

    @property
    def architecture(self) -> dict[str, int]:
        """What rebuilds this network: ``ResNetSR(**net.architecture)``."""
        return {"dims": self.dims, "depth": self.depth, "features": self.features, "channels": self.channels}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def first_and_last_conv(state_dict: dict[str, torch.Tensor]) -> tuple[str, str]:
    """The key prefixes (``body.<i>``) of the first and last convolutions in a ResNetSR state dict."""
    conv_indices = sorted({int(key.split(".")[1]) for key in state_dict if key.startswith("body.")})
    if not conv_indices:
        raise ValueError("Not a ResNetSR state dict (no 'body.*' weights).")
    return f"body.{conv_indices[0]}", f"body.{conv_indices[-1]}"


def transfer_first_layer(state_dict_1ch: dict[str, torch.Tensor], channels: int) -> dict[str, torch.Tensor]:
    """A ``channels``-channel ResNetSR state dict made from a one-channel one (transfer learning).

    The multi-echo adaptation of the DeepResolve network duplicates the first layer's
    weights across the input channels (Chaudhari et al., MRM 80(5), 2018, as the
    issue describes the dual-echo DESS work). Scaling choice made here: the duplicated
    input weights are divided by ``channels``, and the last layer's weights and bias
    are duplicated unscaled across the output channels. Then, for identical echoes
    ``x`` on every channel, the first layer computes ``sum_c (W / C) * x = W * x``, the
    hidden layers are untouched, and every output channel equals the one-channel
    network's output: the transferred network starts exactly where the one-channel
    model was, and fine-tuning on real echoes only has to learn how they differ.
    """
    if channels < 1:
        raise ValueError("channels must be positive.")
    first, last = first_and_last_conv(state_dict_1ch)
    w_first = state_dict_1ch[f"{first}.weight"]
    w_last = state_dict_1ch[f"{last}.weight"]
    if w_first.shape[1] != 1 or w_last.shape[0] != 1:
        raise ValueError(
            f"transfer_first_layer starts from a one-channel model; this one has {w_first.shape[1]} "
            f"input and {w_last.shape[0]} output channels."
        )
    out = {key: value.clone() for key, value in state_dict_1ch.items()}
    repeat_in = [1] * w_first.ndim
    repeat_in[1] = channels
    out[f"{first}.weight"] = w_first.repeat(*repeat_in) / channels
    repeat_out = [1] * w_last.ndim
    repeat_out[0] = channels
    out[f"{last}.weight"] = w_last.repeat(*repeat_out)
    out[f"{last}.bias"] = state_dict_1ch[f"{last}.bias"].repeat(channels)
    return out


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a torch device; None means CUDA when torch sees a GPU, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def configure_threads() -> None:
    """Use one intra-op thread per available CPU core (no oversubscription of small machines).

    torch defaults to the number of physical cores it sees, which inside containers
    can exceed the cores actually granted; ``os.sched_getaffinity`` reports those.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    if torch.get_num_threads() > cores:
        torch.set_num_threads(cores)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global generator (weight initialisation) and return a CPU generator for sampling."""
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def numpy_fn(
    net: nn.Module, device: torch.device, *, add_batch: bool = True
) -> Callable[[np.ndarray], np.ndarray]:
    """``net`` as a function of float32 numpy arrays, for :func:`sr_engine.tiling.tiled_apply`.

    With ``add_batch`` the array is ``(channels, *spatial)`` and gets a batch axis of 1;
    without it the array already is ``(batch, channels, *spatial)``. Runs without
    gradients on ``device`` and returns a CPU array.
    """

    def apply(array: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(device)
        with torch.inference_mode():
            y = net(x[None] if add_batch else x)
        y = y[0] if add_batch else y
        return y.to("cpu").numpy()

    return apply


@contextlib.contextmanager
def deterministic_torch() -> Iterator[None]:
    """Deterministic torch algorithms inside the block; the previous setting is restored after."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def fit_l2(
    net: nn.Module,
    next_batch: Callable[[], tuple[np.ndarray, np.ndarray]],
    *,
    steps: int,
    lr: float,
    eta_min: float,
    device: torch.device,
    report: Callable[[float], None],
) -> list[float]:
    """Train ``net`` for ``steps`` batches with the L2 (mean squared error) loss; return the losses.

    Adam (Kingma & Ba, ICLR 2015) with a cosine-annealed learning rate from ``lr`` down
    to ``eta_min`` (Loshchilov & Hutter, "SGDR", ICLR 2017). ``next_batch`` returns
    (inputs, targets) as float32 arrays; ``report`` gets the fraction of steps done.
    """
    net.to(device).train()
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(steps, 1), eta_min=eta_min)
    losses: list[float] = []
    for step in range(steps):
        x, y = next_batch()
        loss = nn.functional.mse_loss(net(torch.from_numpy(x).to(device)), torch.from_numpy(y).to(device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
        report((step + 1) / max(steps, 1))
    net.eval()
    return losses
