"""The residual CNN and the one-to-several-channel transfer step."""

import pytest
import torch

from sr_engine.networks import ResNetSR, transfer_first_layer


def test_resnet_is_residual_same_shape_and_reports_its_receptive_field():
    torch.manual_seed(0)
    net = ResNetSR(dims=3, depth=5, features=8, channels=2).eval()
    x = torch.randn(1, 2, 7, 9, 11)
    with torch.no_grad():
        y = net(x)
        body = net.body(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, x + body)
    assert net.halo_needed == 5
    assert sum(isinstance(m, torch.nn.Conv3d) for m in net.modules()) == 5


def test_receptive_field_radius_is_exactly_the_depth():
    torch.manual_seed(1)
    net = ResNetSR(dims=2, depth=4, features=6).eval()
    x = torch.zeros(1, 1, 21, 21)
    x[0, 0, 10, 10] = 1.0
    with torch.no_grad():
        changed = (net.body(x) - net.body(torch.zeros_like(x))).abs()[0, 0] > 0
    rows, cols = torch.nonzero(changed, as_tuple=True)
    assert rows.min() == 10 - 4 and rows.max() == 10 + 4
    assert cols.min() == 10 - 4 and cols.max() == 10 + 4


def test_rejects_unsupported_shapes():
    with pytest.raises(ValueError, match="2D or 3D"):
        ResNetSR(dims=1)
    with pytest.raises(ValueError, match="at least 2 layers"):
        ResNetSR(depth=1)


@pytest.mark.parametrize("dims", [2, 3])
def test_transfer_gives_the_single_channel_output_on_identical_echoes(dims):
    torch.manual_seed(2)
    single = ResNetSR(dims=dims, depth=4, features=8, channels=1).eval()
    # Make the residual large so that a wrong scaling could not hide in rounding.
    with torch.no_grad():
        for p in single.parameters():
            p.mul_(3.0)
    dual = ResNetSR(dims=dims, depth=4, features=8, channels=2).eval()
    dual.load_state_dict(transfer_first_layer(single.state_dict(), 2))
    x = torch.rand((1, 1) + (9,) * dims)
    with torch.no_grad():
        expected = single(x)
        got = dual(torch.cat([x, x], dim=1))
    assert (expected - x).abs().max() > 0.1  # the residual is not negligible
    torch.testing.assert_close(got[:, :1], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[:, 1:], expected, atol=1e-5, rtol=1e-5)
    # Different echoes give different outputs: the channels are not tied together.
    with torch.no_grad():
        mixed = dual(torch.cat([x, 0.5 * x], dim=1))
    assert not torch.allclose(mixed[:, 0], mixed[:, 1])


def test_transfer_refuses_a_multi_channel_start():
    dual = ResNetSR(dims=2, depth=3, features=4, channels=2)
    with pytest.raises(ValueError, match="one-channel model"):
        transfer_first_layer(dual.state_dict(), 3)
