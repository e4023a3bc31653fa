"""Numerics, partitioning, gradients and shapes of lab.piq's quantization and networks."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lab.piq import (
    Conv2dEncoder_v2,
    ResBlockAudio,
    VectorQuantization,
    VectorQuantizationStraightThrough,
    VectorQuantizedPSI_Audio,
    VQEmbedding,
    get_irrelevant_regions,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _direct_nearest(inputs, codebook, allowed=None):
    """Brute-force nearest code per vector: explicit differences, python loop over items."""
    b = inputs.shape[0]
    out = torch.empty(inputs.shape[:-1], dtype=torch.long)
    for i in range(b):
        vecs = inputs[i].reshape(-1, inputs.shape[-1]).double()
        d = ((vecs[:, None, :] - codebook.double()[None, :, :]) ** 2).sum(-1)
        if allowed is not None:
            d[:, ~allowed[i]] = float("inf")
        out[i] = d.argmin(-1).view(inputs.shape[1:-1])
    return out


def _allowed(labels, K, num_classes, shared):
    per = (K - shared) // num_classes
    allowed = torch.zeros(len(labels), K, dtype=torch.bool)
    for i, c in enumerate(labels.tolist()):
        allowed[i, int(c) * per:(int(c) + 1) * per] = True
        if shared:
            allowed[i, K - shared:] = True
    return allowed


@given(
    seed=st.integers(0, 10_000),
    K=st.integers(8, 40),
    num_classes=st.integers(1, 4),
    shared=st.integers(0, 4),
)
def test_vq_matches_direct_computation(seed, K, num_classes, shared):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(3, 2, 5, 6, generator=g)
    codebook = torch.randn(K, 6, generator=g)
    labels = torch.randint(0, num_classes, (3,), generator=g)
    got = VectorQuantization.apply(inputs, codebook, labels, num_classes, True, shared)
    assert torch.equal(got, _direct_nearest(inputs, codebook,
                                            _allowed(labels, K, num_classes, shared)))
    free = VectorQuantization.apply(inputs, codebook, labels, num_classes, False, shared)
    assert torch.equal(free, _direct_nearest(inputs, codebook))


def test_irrelevant_regions_layout():
    regions = get_irrelevant_regions(torch.tensor([2, 0]), K=11, num_classes=3, N_shared=2)
    # per class (11 - 2) // 3 = 3 entries; shared are the last two
    assert regions[0].tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert regions[1].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]


def test_partitioning_honours_labels():
    torch.manual_seed(0)
    vq = VQEmbedding(K=30, D=8, numclasses=3, shared_keys=0)
    z = torch.randn(6, 8, 4, 4)
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    codes = vq(z, labels)
    for item, c in enumerate(labels.tolist()):
        assert codes[item].min() >= 10 * c and codes[item].max() < 10 * (c + 1)


def test_forward_and_straight_through_pick_same_codes():
    torch.manual_seed(1)
    vq = VQEmbedding(K=40, D=8, numclasses=4, shared_keys=4)
    z = torch.randn(5, 8, 3, 6)
    for labels in (torch.tensor([3, 0, 1, 2, 3]), None):
        codes = vq(z, labels)
        _, z_q_x = vq.straight_through(z, labels)
        expected = vq.embedding.weight[codes].permute(0, 3, 1, 2)
        assert torch.equal(z_q_x, expected)


def test_labels_none_searches_whole_codebook():
    torch.manual_seed(2)
    vq = VQEmbedding(K=20, D=4, numclasses=5)
    z = torch.randn(2, 4, 3, 3)
    codes = vq(z, None)
    direct = _direct_nearest(z.permute(0, 2, 3, 1), vq.embedding.weight.detach())
    assert torch.equal(codes, direct)
    z_q_x_st, _ = vq.straight_through(z, labels=None)
    assert z_q_x_st.shape == z.shape


def test_straight_through_gradient_is_identity():
    torch.manual_seed(3)
    inputs = torch.randn(2, 3, 4, 5, requires_grad=True)
    codebook = torch.randn(12, 5, requires_grad=True)
    quant, idx = VectorQuantizationStraightThrough.apply(inputs, codebook, None, 3)
    upstream = torch.randn_like(quant)
    g_in, g_cb = torch.autograd.grad((quant * upstream).sum(), (inputs, codebook))
    assert torch.equal(g_in, upstream)
    expected_cb = torch.zeros_like(codebook)
    for row, k in zip(upstream.reshape(-1, 5), idx.tolist()):
        expected_cb[k] += row
    torch.testing.assert_close(g_cb, expected_cb)


def test_vector_quantization_is_not_differentiable():
    with pytest.raises(RuntimeError, match="not differentiable"):
        VectorQuantization.backward(None, torch.ones(1))
    idx = VectorQuantization.apply(torch.randn(1, 2, 2, 3, requires_grad=True), torch.randn(4, 3))
    assert not idx.requires_grad and idx.dtype == torch.long


def test_documented_shapes():
    assert Conv2dEncoder_v2(dim=8)(torch.ones(1, 431, 513)).shape == (1, 8, 26, 32)
    assert ResBlockAudio(4)(torch.randn(2, 4, 5, 7)).shape == (2, 4, 5, 7)
    psi = VectorQuantizedPSI_Audio(dim=16, K=64, numclasses=4)
    x_tilde, hcat, z_q_x = psi(torch.randn(2, 16, 16, 16), torch.tensor([0, 3]))
    assert x_tilde.shape == (2, 1, 257, 257)
    assert hcat.shape == z_q_x.shape == (2, 16, 8, 8)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda vq: vq(torch.randn(2, 8, 3)), "4-D"),
        (lambda vq: vq(torch.randn(2, 5, 3, 3)), "8 channels"),
        (lambda vq: vq(torch.randn(2, 8, 3, 3), torch.tensor([0, 3])), r"\[0, 3\)"),
        (lambda vq: vq(torch.randn(2, 8, 3, 3), torch.tensor([0, -1])), r"\[0, 3\)"),
        (lambda vq: vq(torch.randn(2, 8, 3, 3), torch.tensor([0])), "batch of 2"),
        (lambda vq: vq(torch.randn(2, 8, 3, 3), torch.tensor([[0, 1]])), "1-D"),
        (lambda vq: vq.straight_through(torch.randn(8, 3, 3), None), "4-D"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, match):
    vq = VQEmbedding(K=12, D=8, numclasses=3)
    with pytest.raises(ValueError, match=match):
        call(vq)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="stage"):
        get_irrelevant_regions(torch.tensor([0]), 10, 2, 0, stage="train")
    with pytest.raises(ValueError, match="no codebook entries"):
        get_irrelevant_regions(torch.tensor([0]), 4, 5, 0)
    with pytest.raises(ValueError, match="whole class indices"):
        get_irrelevant_regions(torch.tensor([0.5]), 10, 2, 0)
    with pytest.raises(ValueError, match=r"\(B, T, F\)"):
        Conv2dEncoder_v2(dim=4)(torch.ones(2, 1, 30, 30))
    with pytest.raises(ValueError, match="channels"):
        VectorQuantizedPSI_Audio(dim=8, K=20, numclasses=2)(torch.randn(1, 4, 8, 8))
