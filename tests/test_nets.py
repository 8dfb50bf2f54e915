"""Model shapes for every image size of the spine, and the init schemes of report 003."""

import pytest
import torch

from core.names import INIT_SCHEMES
from trainables.nets import Autoencoder, init_weights, mlp


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 64, 64)])
@pytest.mark.parametrize("arch", ["dense", "conv"])
@pytest.mark.parametrize("variational", [True, False])
def test_autoencoder_reconstructs_its_input_shape(shape, arch, variational):
    model = Autoencoder(shape, arch=arch, latent_dim=7, variational=variational, dropout=0.1)
    recon, mu, logvar = model(torch.rand(3, *shape))
    assert recon.shape == (3, *shape) and mu.shape == (3, 7)
    assert (logvar is not None) == variational


def test_eval_mode_encodes_deterministically():
    model = Autoencoder((1, 8, 8), arch="conv", latent_dim=4, variational=True).eval()
    x = torch.rand(5, 1, 8, 8)
    assert torch.equal(model(x)[0], model(x)[0])


@pytest.mark.parametrize("scheme", INIT_SCHEMES)
def test_init_schemes(scheme):
    net = init_weights(mlp([6, 5, 3]), scheme)
    first = net[0]
    if scheme == "zeros":
        assert first.weight.abs().sum() == 0 and first.bias.abs().sum() == 0
    elif scheme == "ones":
        assert (first.weight == 1).all() and (first.bias == 1).all()
    elif scheme == "glorot_uniform":
        bound = (6 / (6 + 5)) ** 0.5
        assert first.weight.abs().max() <= bound and (first.bias == 0.01).all()
    elif scheme == "he_normal":
        assert (first.bias == 0).all() and first.weight.std() > 0


def test_unknown_init_scheme_is_rejected():
    with pytest.raises(ValueError, match="unknown init"):
        init_weights(mlp([2, 2]), "orthogonal")
