import math

import matplotlib
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from lab.streaming import (
    BatchDependentModelError,
    DependencyInferenceInterrupted,
    NonDeterministicModelError,
    NotStreamableError,
    assert_streamable,
    chunked_attention_mask,
    dependency_summary,
    example_model,
    infer_dependency_matrix,
    lookahead_violations,
    plot_dependency_matrix,
    split_fixed_chunks,
    split_wav_lens,
)

matplotlib.use("Agg")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def band(seq_len, behind, ahead):
    """Expected [in, out] matrix of a model whose output t sees t-behind .. t+ahead."""
    i = torch.arange(seq_len)[:, None]
    j = torch.arange(seq_len)[None, :]
    return (i >= j - behind) & (i <= j + ahead)


# -- chunking ------------------------------------------------------------------------------


@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=4),
    chunk_size=st.integers(1, 10),
    data=st.data(),
)
def test_split_fixed_chunks_any_dim(shape, chunk_size, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = torch.arange(math.prod(shape), dtype=torch.float32).reshape(shape)
    chunks = split_fixed_chunks(x, chunk_size, dim=dim)
    n = shape[dim]
    assert len(chunks) == math.ceil(n / chunk_size)
    sizes = [c.shape[dim] for c in chunks]
    assert sizes[:-1] == [chunk_size] * (len(chunks) - 1)
    assert 1 <= sizes[-1] <= chunk_size
    for c in chunks:  # only `dim` is cut
        other = [s for k, s in enumerate(c.shape) if k != dim % len(shape)]
        assert other == [s for k, s in enumerate(shape) if k != dim % len(shape)]
    assert torch.equal(torch.cat(chunks, dim=dim), x)


def test_split_fixed_chunks_default_dim_is_last_not_one():
    # the seed counts chunks on dim -1 but splits dim 1: 3 real and 7 empty chunks
    x = torch.randn(3, 20, 80)
    chunks = split_fixed_chunks(x, 8)
    assert len(chunks) == 10
    assert all(c.shape == (3, 20, 8) for c in chunks)
    assert torch.equal(chunks[4], x[..., 32:40])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(chunk_size=0), "chunk_size"),
        (dict(chunk_size=2.5), "chunk_size"),
        (dict(chunk_size=4, dim=3), "dim=3"),
        (dict(chunk_size=4, dim=-4), "dim=-4"),
    ],
)
def test_split_fixed_chunks_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        split_fixed_chunks(torch.zeros(2, 3, 4), **kwargs)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        split_fixed_chunks([1, 2, 3], 2)


def test_split_wav_lens_doc_semantics():
    # 20 frames in chunks of 8, 8, 4; items hold 20, 13 and 17 real frames
    out = split_wav_lens([8, 8, 4], torch.tensor([1.0, 0.65, 0.85]))
    expected = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5 / 8, 1.0], [1.0, 0.0, 0.25]])
    assert len(out) == 3
    torch.testing.assert_close(torch.stack(out), expected)


@given(
    chunk_lens=st.lists(st.integers(1, 12), min_size=1, max_size=6),
    rel=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4),
)
def test_split_wav_lens_conserves_frames(chunk_lens, rel):
    wav_lens = torch.tensor(rel, dtype=torch.float64)
    out = split_wav_lens(chunk_lens, wav_lens)
    real = sum(n * r for n, r in zip(chunk_lens, out))
    torch.testing.assert_close(real, wav_lens * sum(chunk_lens))
    for r in out:
        assert ((r >= 0) & (r <= 1)).all()


def test_split_wav_lens_bad_input():
    with pytest.raises(ValueError, match="chunk_lens"):
        split_wav_lens([], torch.tensor([1.0]))
    with pytest.raises(ValueError, match="chunk_lens"):
        split_wav_lens([4, 0], torch.tensor([1.0]))
    with pytest.raises(TypeError, match="wav_lens"):
        split_wav_lens([4], torch.tensor([1]))


# -- dependency matrices -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("causal_conv", {}),
        ("centered_conv", {}),
        ("subsampling_conv", {}),
        ("chunked_attention", dict(chunk_size=5, left_context=7)),
    ],
)
@pytest.mark.parametrize("shape, stride", [((1, 32, 40), 1), ((2, 25, 40), 3)])
def test_perturb_equals_loop_on_deterministic_models(name, kwargs, shape, stride):
    model = example_model(name, **kwargs)
    loop = infer_dependency_matrix(model, shape, stride, method="loop")
    for per_pass in (None, 7):
        fast = infer_dependency_matrix(model, shape, stride, method="perturb",
                                       frames_per_pass=per_pass)
        assert torch.equal(fast, loop)
    assert loop.any() and not loop.all()


def test_exact_comparison_is_available():
    model = example_model("centered_conv", kernel_size=3)
    deps = infer_dependency_matrix(model, (1, 20, 40), rtol=0.0, atol=0.0)
    assert torch.equal(deps, band(20, 1, 1))


def test_known_conv_matrices_all_methods():
    for method in ("perturb", "jacobian", "loop"):
        causal = infer_dependency_matrix(example_model("causal_conv"), (1, 24, 40), method=method)
        assert torch.equal(causal, band(24, 4, 0)), method
        centered = infer_dependency_matrix(example_model("centered_conv"), (1, 24, 40),
                                           method=method)
        assert torch.equal(centered, band(24, 2, 2)), method


@pytest.fixture(scope="module")
def lstm_jacobian_100():
    return infer_dependency_matrix(example_model("lstm"), (1, 100, 40), method="jacobian")


def test_jacobian_finds_every_lstm_dependency(lstm_jacobian_100):
    deps = lstm_jacobian_100
    assert int(deps.sum()) == 5050
    assert torch.equal(deps, torch.ones(100, 100, dtype=torch.bool).triu())  # in <= out


def test_jacobian_bilstm_is_full():
    deps = infer_dependency_matrix(example_model("bilstm"), (1, 60, 40), method="jacobian")
    assert deps.all() and deps.shape == (60, 60)


def test_value_comparison_misses_far_lstm_influence_that_jacobian_finds(lstm_jacobian_100):
    # the seed's allclose comparison: far-away influence is real but below tolerance
    model = example_model("lstm")
    loop = infer_dependency_matrix(model, (1, 100, 40), method="loop")
    jac = lstm_jacobian_100
    assert int(jac.sum()) == 5050
    assert int(loop.sum()) < 5050
    assert not (loop & ~jac).any()  # nothing found by value is structurally absent
    missed = (jac & ~loop).nonzero()
    found = loop.nonzero()
    lag = lambda ij: (ij[:, 1] - ij[:, 0]).float().mean()
    assert lag(missed) > lag(found) + 20  # what is missed is the far past
    assert torch.equal(infer_dependency_matrix(model, (1, 100, 40)), loop)


def test_in_stride_selects_rows():
    model = example_model("causal_conv")
    full = band(31, 4, 0)
    for method in ("perturb", "jacobian", "loop"):
        deps = infer_dependency_matrix(model, (1, 31, 40), in_stride=4, method=method)
        assert deps.shape == (8, 31)
        assert torch.equal(deps, full[::4]), method


def test_subsampling_model():
    model = example_model("subsampling_conv", kernel_size=4, stride=2)
    seq_len = 20
    i = torch.arange(seq_len)[:, None]
    j = torch.arange(seq_len // 2)[None, :]
    expected = (i >= 2 * j - 2) & (i <= 2 * j + 1)  # output j sees inputs 2j-2 .. 2j+1
    for method in ("perturb", "jacobian", "loop"):
        deps = infer_dependency_matrix(model, (1, seq_len, 40), method=method)
        assert torch.equal(deps, expected), method
    s = dependency_summary(expected)
    assert (s.lookahead, s.left_context, s.causal) == (0, 3, True)


def test_batch_size_does_not_change_conv_answer():
    model = example_model("centered_conv")
    assert torch.equal(
        infer_dependency_matrix(model, (3, 16, 40), method="jacobian"), band(16, 2, 2)
    )


def test_chunked_attention_matrix_follows_mask():
    model = example_model("chunked_attention", chunk_size=4, left_context=3)
    deps = infer_dependency_matrix(model, (1, 16, 40), method="jacobian")
    assert torch.equal(deps, ~chunked_attention_mask(16, 4, 3).T)


# -- summaries and assertions -------------------------------------------------------------


def test_summary_on_known_models():
    s = dependency_summary(infer_dependency_matrix(example_model("centered_conv", kernel_size=5),
                                                   (1, 30, 40)))
    assert (s.lookahead, s.left_context, s.causal, s.n_dependencies) == (2, 2, False, 30 * 5 - 6)
    s = dependency_summary(infer_dependency_matrix(example_model("causal_conv", kernel_size=5),
                                                   (1, 30, 40)))
    assert (s.lookahead, s.left_context, s.causal) == (0, 4, True)
    att = example_model("chunked_attention", chunk_size=8, left_context=16)
    s = dependency_summary(infer_dependency_matrix(att, (1, 48, 40)))
    # the last frame of a chunk sees 7 frames of its chunk plus 16 before it
    assert (s.lookahead, s.left_context, s.causal) == (7, 23, False)
    assert s.lookahead_per_frame[:8] == (7, 6, 5, 4, 3, 2, 1, 0)
    lstm = infer_dependency_matrix(example_model("lstm"), (1, 50, 40), method="jacobian")
    s = dependency_summary(lstm)
    assert (s.lookahead, s.left_context, s.causal) == (0, 49, True)


def test_summary_with_stride():
    full = band(30, 4, 2)
    s = dependency_summary(full[::3], in_stride=3, seq_len=30)
    assert s.lookahead == 2 and s.left_context == 4
    with pytest.raises(ValueError, match="rows"):
        dependency_summary(full[::3], in_stride=3, seq_len=40)


def test_summary_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        dependency_summary(torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="in_stride"):
        dependency_summary(torch.ones(3, 3, dtype=torch.bool), in_stride=0)


def test_assert_streamable_passes_on_causal():
    s = assert_streamable(example_model("causal_conv"), (1, 32, 40))
    assert s.causal and s.left_context == 4
    assert assert_streamable(example_model("lstm"), (1, 32, 40), method="jacobian").causal


def test_assert_streamable_names_first_offending_frame():
    with pytest.raises(NotStreamableError, match="output frame 0 depends on input frame 2, 2 fr"):
        assert_streamable(example_model("centered_conv"), (1, 32, 40))
    with pytest.raises(AssertionError, match="output frame 0 depends on input frame 7"):
        assert_streamable(example_model("chunked_attention", chunk_size=8), (1, 32, 40),
                          max_lookahead=6)
    # chunks of 4 with 1 frame allowed: the first two frames of each chunk offend
    chunked = ~chunked_attention_mask(12, 4).T
    assert lookahead_violations(chunked, 1) == [(0, 3, 3), (1, 3, 2), (4, 7, 3), (5, 7, 2),
                                                (8, 11, 3), (9, 11, 2)]
    assert assert_streamable(example_model("centered_conv"), (1, 32, 40), max_lookahead=2)
    with pytest.raises(NotStreamableError, match="output frame 4 depends on input frame 0, 4 fr"):
        assert_streamable(example_model("causal_conv"), (1, 32, 40), max_left_context=3)


def test_assert_streamable_bad_max_lookahead():
    with pytest.raises(ValueError, match="max_lookahead"):
        assert_streamable(example_model("causal_conv"), (1, 8, 40), max_lookahead=-1)


# -- determinism, batching, bad input ------------------------------------------------------


def test_dropout_in_train_mode_is_reported():
    model = nn.Sequential(nn.Linear(40, 16), nn.Dropout(0.5)).train()
    for method in ("perturb", "jacobian", "loop"):
        with pytest.raises(NonDeterministicModelError, match=r"eval\(\)"):
            infer_dependency_matrix(model, (1, 10, 40), method=method)
    assert infer_dependency_matrix(model.eval(), (1, 10, 40)).equal(torch.eye(10, dtype=torch.bool))


class _BatchNormModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(8)
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        return self.lin(self.norm(x.transpose(1, 2)).transpose(1, 2))


def test_batch_mixing_model_is_refused_by_perturb_only():
    model = _BatchNormModel().train()  # deterministic, but normalises over the batch
    with pytest.raises(BatchDependentModelError, match="method='loop'"):
        infer_dependency_matrix(model, (1, 6, 8), method="perturb")
    assert infer_dependency_matrix(model, (1, 6, 8), method="loop").all()


@pytest.mark.parametrize(
    "seq_shape", [(10, 40), (1, 10, 40, 1), (1, 0, 40), (1, 10.0, 40), "abc", 5]
)
def test_bad_seq_shape(seq_shape):
    with pytest.raises(ValueError, match="seq_shape must be 3-D"):
        infer_dependency_matrix(example_model("causal_conv"), seq_shape)


@pytest.mark.parametrize("stride", [0, -2, 1.5])
def test_bad_stride(stride):
    with pytest.raises(ValueError, match="in_stride must be an int >= 1"):
        infer_dependency_matrix(example_model("causal_conv"), (1, 8, 40), in_stride=stride)


def test_model_returning_wrong_rank_or_type():
    with pytest.raises(ValueError, match="3-D .* got 2-D"):
        infer_dependency_matrix(lambda x: x.sum(-1), (1, 8, 4))
    with pytest.raises(TypeError, match=r"lambda x: model\(x\)\[0\]"):
        infer_dependency_matrix(nn.LSTM(4, 3, batch_first=True), (1, 8, 4))
    with pytest.raises(ValueError, match="batch size 1 for an input batch of 2"):
        infer_dependency_matrix(lambda x: x[:1], (2, 8, 4))
    with pytest.raises(ValueError, match="method must be one of"):
        infer_dependency_matrix(lambda x: x, (1, 8, 4), method="fast")
    with pytest.raises(TypeError, match="callable"):
        infer_dependency_matrix("model", (1, 8, 4))


def test_interrupt_keeps_partial_result():
    calls = []

    def model(x):
        calls.append(1)
        if len(calls) > 6:  # 2 determinism passes, then 4 loop passes
            raise KeyboardInterrupt
        return x * 2

    with pytest.raises(DependencyInferenceInterrupted) as info:
        infer_dependency_matrix(model, (1, 10, 3), method="loop")
    assert int(info.value.computed.all(dim=1).sum()) == 4
    assert torch.equal(info.value.partial[:4], torch.eye(10, dtype=torch.bool)[:4])


# -- plotting ------------------------------------------------------------------------------


def test_plot_dependency_matrix():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    deps = band(6, 1, 0)
    deps[5, 0] = True  # output 0 uses input 5: must land at x=5, y=0
    fig = plot_dependency_matrix(deps)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    mesh = ax.collections[0]
    image = mesh.get_array().reshape(6, 6)  # rows = y = output frame
    assert image[0, 5] == 1 and image[5, 0] == 0
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("input frame", "output frame")
    plt.close(fig)
    with pytest.raises(ValueError, match="2-D"):
        plot_dependency_matrix(torch.ones(3))


def test_perturb_comparison_is_allclose_per_output_frame():
    # the vectorised comparison must decide exactly like the seed's allclose call per frame
    from lab.streaming.dependency import _allclose_per_frame

    g = torch.Generator().manual_seed(0)
    for scale, bs in [(1e-9, 2), (1e-4, 1), (1.0, 2), (1.0, 1), (1e3, 1)]:
        ref = torch.randn(1, bs, 5, 7, generator=g) * scale
        out = ref + torch.randn(30, bs, 5, 7, generator=g) * scale * 1e-5
        out[0, 0, 0, 0], out[1, 0, 1, 0] = float("nan"), float("inf")
        for rtol, atol in [(1e-5, 1e-8), (0.0, 0.0), (1e-3, 0.0), (0.0, 1e-6)]:
            expected = torch.tensor([[torch.allclose(out[k, :, j], ref[0, :, j], rtol=rtol,
                                                     atol=atol) for j in range(5)]
                                     for k in range(30)])
            assert torch.equal(_allclose_per_frame(out, ref, rtol, atol), expected)


def test_progress_bar_and_frames_per_pass_validation():
    model = example_model("causal_conv", kernel_size=2)
    for method in ("perturb", "jacobian", "loop"):
        deps = infer_dependency_matrix(model, (1, 10, 40), method=method, progress=True,
                                       frames_per_pass=3 if method != "loop" else None)
        assert torch.equal(deps, band(10, 1, 0)), method
    with pytest.raises(ValueError, match="frames_per_pass"):
        infer_dependency_matrix(model, (1, 10, 40), frames_per_pass=0)
