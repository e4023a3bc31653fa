"""Numba CUDA kernels of the RNN-T loss (imported lazily by ``backend="cuda"``).

Design, read against the hardware model:

- row log-sum-exp over V: torch's ``logsumexp`` on the current stream (a coalesced block
  reduction per row, in the input's precision); only with ``fused_log_softmax``;
- lattice log-probs (blank and label edge of each node): a grid-stride loop over the nodes,
  stored in float64;
- alpha and beta: one block per utterance (grid-stride over the batch) sweeping the lattice
  as a wavefront (anti-diagonals t + u for the standard transducer, rows t for the
  modified one) with a barrier between fronts; threads loop over u, so neither U nor B is
  limited. The whole dynamic programme is float64, like the CPU kernel's;
- gradient: a grid-stride loop of blocks over the lattice nodes, each block's threads
  striding over V (coalesced); the node's edge posteriors are float64, the exponentials over
  V run in the input's precision. Rows of padding are zeroed here, so the gradient buffer is
  allocated uninitialised and written once.

Every grid is capped (:data:`MAX_BLOCKS`) and covered by grid-stride loops: numba passes grid
sizes as 32-bit integers, and no size may be silently truncated.

Streams and devices: every launch goes to torch's *current* stream of the tensor's device,
inside that device's context, so torch's caching allocator orders buffer reuse after the
kernels, ``torch.cuda.stream(s)`` blocks work, and tensors on ``cuda:1`` run on device 1.
Device arrays are imported without numba's stream synchronisation (``sync=False``): producer
and consumer are the same stream. Nothing here blocks the host.

Under ``NUMBA_ENABLE_CUDASIM=1`` the same kernels run in Numba's simulator on CPU arrays
(that is how CI checks them, with a tiny :data:`MAX_BLOCKS` so the grid-stride loops really
loop); the simulator has no external streams, so the launch stream is then its default one.

Every kernel compiles for real GPUs on both numba CUDA targets (NVIDIA's ``numba-cuda`` and
numba's built-in one); :func:`compile_all_ptx` compiles them to PTX without a GPU, and a
test does so for sm_80 and sm_90, float32 and float64.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings

import numpy as np
import torch
from numba import cuda

NEG_INF = -math.inf
_SIM = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"
# Grid cap: far below 2**31 - 1 (the x-dimension limit), large enough to fill any GPU; the
# kernels loop over whatever lies beyond. Tiny in the simulator, so tests exercise the loops.
MAX_BLOCKS = 4 if _SIM else 1 << 20
# Threads per block over u (alpha/beta) and over V (gradient).
U_THREADS = 8 if _SIM else 1024
V_THREADS = 16 if _SIM else 256


def _threads(n: int, cap: int) -> int:
    """Smallest power of two >= n (at least 32 on a GPU: one warp), at most ``cap``."""
    t = 1 if _SIM else 32
    while t < n and t < cap:
        t *= 2
    return min(t, cap)


@cuda.jit(device=True, inline="always")
def _lae(a, b):
    """log(exp(a) + exp(b)) without overflow; -inf absorbs."""
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@cuda.jit
def _lattice_lp(x, lse, targets, tlen, ulen, offsets, strides, blank, fused, lpb, lpl):
    """Blank/label log-probs (float64) of each utterance's nodes, boxed as (B, T, U+1).

    A row whose log-sum-exp is not finite (NaN or +inf logits, or all -inf) or, without
    ``fused``, whose used log-prob is NaN or +inf makes its edges NaN: the loss of that
    utterance becomes NaN instead of a silently finite number.
    """
    B, Tm, U1 = lpb.shape
    n = B * Tm * U1
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        b = i // (Tm * U1)
        rem = i - b * (Tm * U1)
        t = rem // U1
        u = rem - t * U1
        if t < tlen[b] and u <= ulen[b]:
            r = offsets[b] + t * strides[b] + u
            norm = lse[r]
            bad = fused and not (abs(norm) < math.inf)
            vb = x[r, blank] - norm
            if bad or not (vb < math.inf):
                vb = math.nan
            lpb[b, t, u] = vb
            if u < ulen[b]:
                vl = x[r, targets[b, u]] - norm
                if bad or not (vl < math.inf):
                    vl = math.nan
                lpl[b, t, u] = vl
        i += step


@cuda.jit
def _alpha(lpb, lpl, tlen, ulen, modified, alpha, logp):
    """Forward variables (float64) and log P of each utterance: one block per utterance."""
    B = lpb.shape[0]
    nth = cuda.blockDim.x
    tid = cuda.threadIdx.x
    b = cuda.blockIdx.x
    while b < B:
        T = tlen[b]
        U = ulen[b]
        n_fronts = T if modified else T + U
        for f in range(n_fronts):
            u = tid
            while u <= U:
                t = f if modified else f - u
                if 0 <= t < T:
                    if t == 0 and u == 0:
                        a = 0.0
                    elif modified:
                        a = NEG_INF
                        if t > 0:
                            a = alpha[b, t - 1, u] + lpb[b, t - 1, u]
                            if u > 0:
                                a = _lae(a, alpha[b, t - 1, u - 1] + lpl[b, t - 1, u - 1])
                    else:
                        a = NEG_INF
                        if t > 0:
                            a = alpha[b, t - 1, u] + lpb[b, t - 1, u]
                        if u > 0:
                            a = _lae(a, alpha[b, t, u - 1] + lpl[b, t, u - 1])
                    alpha[b, t, u] = a
                u += nth
            cuda.syncthreads()
        if tid == 0:
            lp = alpha[b, T - 1, U] + lpb[b, T - 1, U]
            if modified and U > 0:
                lp = _lae(lp, alpha[b, T - 1, U - 1] + lpl[b, T - 1, U - 1])
            logp[b] = lp
        # The next utterance of this block must not overwrite what thread 0 still reads.
        cuda.syncthreads()
        b += cuda.gridDim.x


@cuda.jit
def _beta(lpb, lpl, tlen, ulen, modified, beta):
    """Backward variables (float64): one block per utterance, fronts in reverse."""
    B = lpb.shape[0]
    nth = cuda.blockDim.x
    tid = cuda.threadIdx.x
    b = cuda.blockIdx.x
    while b < B:
        T = tlen[b]
        U = ulen[b]
        n_fronts = T if modified else T + U
        for f in range(n_fronts - 1, -1, -1):
            u = tid
            while u <= U:
                t = f if modified else f - u
                if 0 <= t < T:
                    if modified:
                        if t == T - 1:
                            v = NEG_INF
                            if u == U:
                                v = lpb[b, t, u]
                            elif u == U - 1:
                                v = lpl[b, t, u]
                        else:
                            v = beta[b, t + 1, u] + lpb[b, t, u]
                            if u < U:
                                v = _lae(v, beta[b, t + 1, u + 1] + lpl[b, t, u])
                    else:
                        if t == T - 1 and u == U:
                            v = lpb[b, t, u]
                        else:
                            v = NEG_INF
                            if t < T - 1:
                                v = beta[b, t + 1, u] + lpb[b, t, u]
                            if u < U:
                                v = _lae(v, beta[b, t, u + 1] + lpl[b, t, u])
                    beta[b, t, u] = v
                u += nth
            cuda.syncthreads()
        b += cuda.gridDim.x


@cuda.jit
def _grad(x, g, lse, lpb, lpl, alpha, beta, logp, targets, tlen, ulen, offsets, strides,
          box_t, box_u1, padded, blank, modified, fused, fastemit_lambda, clamp, scale):
    """Gradient rows: blocks stride over the nodes of the (B, box_t, box_u1) box, threads
    over V.

    ``padded``: every node of the box has a row (padded layout), and rows outside the
    utterance are written with zeros; otherwise (packed layout) such nodes have no row.
    """
    B = tlen.shape[0]
    n = B * box_t * box_u1
    V = g.shape[1]
    tid = cuda.threadIdx.x
    nth = cuda.blockDim.x
    i = cuda.blockIdx.x
    while i < n:
        b = i // (box_t * box_u1)
        rem = i - b * (box_t * box_u1)
        t = rem // box_u1
        u = rem - t * box_u1
        T = tlen[b]
        U = ulen[b]
        if t >= T or u > U:
            if padded:
                r = offsets[b] + t * strides[b] + u
                v = tid
                while v < V:
                    g[r, v] = 0.0
                    v += nth
            i += cuda.gridDim.x
            continue
        r = offsets[b] + t * strides[b] + u
        lp = logp[b]
        a = alpha[b, t, u]
        eb = 0.0
        el = 0.0
        if lp != NEG_INF and a != NEG_INF:
            if t < T - 1:
                nb = beta[b, t + 1, u]
            else:
                nb = 0.0 if u == U else NEG_INF
            if nb != NEG_INF:
                eb = math.exp(a + lpb[b, t, u] + nb - lp)
            if u < U:
                if modified:
                    if t < T - 1:
                        nl = beta[b, t + 1, u + 1]
                    else:
                        nl = 0.0 if u + 1 == U else NEG_INF
                else:
                    nl = beta[b, t, u + 1]
                if nl != NEG_INF:
                    el = math.exp(a + lpl[b, t, u] + nl - lp)
        el = el * (1.0 + fastemit_lambda)
        label = targets[b, u] if u < U else -1
        occ = eb + el
        norm = lse[r]
        v = tid
        while v < V:
            val = 0.0
            if fused:
                # exp in the input's precision (x and lse share its dtype)
                val = math.exp(x[r, v] - norm) * occ
            if v == blank:
                val -= eb
            if v == label:
                val -= el
            # if/else, not min(max(...)): numba's built-in CUDA target cannot type the
            # two-argument min/max builtins (numba#10753)
            if clamp > 0.0:
                if val > clamp:
                    val = clamp
                elif val < -clamp:
                    val = -clamp
            g[r, v] = val * scale
            v += nth
        i += cuda.gridDim.x


KERNELS = ("_lattice_lp", "_alpha", "_beta", "_grad")


def kernel_signatures(dtype: str = "float32") -> dict:
    """Numba signature of every kernel for logits of ``dtype`` ("float32" or "float64").

    Examples
    --------
    >>> sorted(kernel_signatures("float64"))
    ['_alpha', '_beta', '_grad', '_lattice_lp']
    """
    from numba import types

    if dtype not in ("float32", "float64"):
        from lab.errors import ArgumentError

        raise ArgumentError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    xt = getattr(types, dtype)
    x2 = types.Array(xt, 2, "C")
    x1 = types.Array(xt, 1, "C")
    f3 = types.Array(types.float64, 3, "C")
    f1 = types.Array(types.float64, 1, "C")
    i1 = types.Array(types.int64, 1, "C")
    i2 = types.Array(types.int64, 2, "C")
    i64, f64, bl = types.int64, types.float64, types.boolean
    return {
        "_lattice_lp": (x2, x1, i2, i1, i1, i1, i1, i64, bl, f3, f3),
        "_alpha": (f3, f3, i1, i1, bl, f3, f1),
        "_beta": (f3, f3, i1, i1, bl, f3),
        "_grad": (x2, x2, x1, f3, f3, f3, f3, f1, i2, i1, i1, i1, i1, i64, i64, bl, i64, bl,
                  bl, f64, f64, f64),
    }


def compile_all_ptx(ccs=((8, 0), (9, 0)), dtypes=("float32", "float64")) -> dict:
    """Compile every kernel to PTX (no GPU needed, only NVVM); {(name, cc, dtype): ptx}.

    A construct that only the simulator accepts fails here with numba's typing error.
    """
    out = {}
    for dtype in dtypes:
        for name, sig in kernel_signatures(dtype).items():
            func = globals()[name].py_func
            for cc in ccs:
                ptx, _ = cuda.compile_ptx(func, sig, cc=tuple(cc))
                out[(name, tuple(cc), dtype)] = ptx
    return out


# ----------------------------------------------------------------------------- launching


def launch_stream(x: torch.Tensor):
    """The numba stream kernels for ``x`` launch on: torch's current stream of its device.

    In the simulator (CPU tensors) it is the simulator's default stream.
    """
    if not x.is_cuda:
        return cuda.default_stream()
    return cuda.external_stream(torch.cuda.current_stream(x.device).cuda_stream)


def _device_context(x: torch.Tensor):
    """Make ``x``'s device current for torch and numba (its primary context)."""
    if not x.is_cuda:
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    stack.enter_context(torch.cuda.device(x.device))
    stack.enter_context(cuda.gpus[x.device.index])
    return stack


def _arr(t):
    """Kernel argument for tensor ``t``: zero-copy, no stream synchronisation."""
    t = t.detach()
    if t.is_cuda:
        return cuda.as_cuda_array(t, sync=False)
    return t.numpy()


def _launch(kernel, blocks: int, threads: int, stream, *args) -> None:
    """One launch; the single place every kernel goes through (tests record it)."""
    with warnings.catch_warnings():
        # alpha/beta use one block per utterance on purpose (the batch is the parallelism),
        # and a small batch is not the user's mistake that numba's occupancy warning means.
        warnings.filterwarnings("ignore", message=r"Grid size \d+ will likely result in GPU")
        kernel[blocks, threads, stream](*args)


def _blocks(n: int, per_block: int = 1) -> int:
    return max(1, min((n + per_block - 1) // per_block, MAX_BLOCKS))


def rnnt_rows(x, targets, logit_lengths, target_lengths, offsets, strides, *, blank, fused,
              modified, fastemit_lambda, clamp, batch_scale, want_grad, t_max=None,
              u_max=None, padded_box=None):
    """Costs and gradient on the GPU (or the simulator): the contract of
    :func:`lab.transducer.cpu.rnnt_rows`, except that every array is a torch tensor on
    ``x``'s device and the costs come back as a float64 tensor there, without a host sync.

    ``t_max``/``u_max`` are the largest logit/target lengths (read from the host copy the
    caller already has, so nothing here waits for the GPU); ``padded_box`` is (T, U+1) of the
    padded layout, None for the packed one. ``batch_scale`` must be uniform (1/B or 1).
    """
    dev = x.device
    N, V = x.shape
    B = logit_lengths.shape[0]
    if t_max is None or u_max is None:  # direct callers: one host read of the lengths
        t_max = int(logit_lengths.max())
        u_max = int(target_lengths.max())
    Tm, U1 = int(t_max), int(u_max) + 1
    scale = float(np.asarray(batch_scale).reshape(-1)[0])
    with _device_context(x):
        stream = launch_stream(x)
        f64 = {"device": dev, "dtype": torch.float64}
        if fused:
            lse = torch.logsumexp(x, dim=1)
        else:
            lse = torch.zeros(N, device=dev, dtype=x.dtype)
        lpb = torch.full((B, Tm, U1), NEG_INF, **f64)
        lpl = torch.full((B, Tm, max(U1 - 1, 1)), NEG_INF, **f64)
        alpha = torch.full((B, Tm, U1), NEG_INF, **f64)
        logp = torch.empty(B, **f64)
        xd, lse_d = _arr(x), _arr(lse)
        tg, tl, ul = _arr(targets), _arr(logit_lengths), _arr(target_lengths)
        off, st = _arr(offsets), _arr(strides)
        lpb_d, lpl_d, alpha_d, logp_d = _arr(lpb), _arr(lpl), _arr(alpha), _arr(logp)
        n_box = B * Tm * U1
        nt = _threads(n_box, V_THREADS)
        _launch(_lattice_lp, _blocks(n_box, nt), nt, stream, xd, lse_d, tg, tl, ul, off, st,
                blank, fused, lpb_d, lpl_d)
        nt_u = _threads(U1, U_THREADS)
        _launch(_alpha, _blocks(B), nt_u, stream, lpb_d, lpl_d, tl, ul, modified, alpha_d,
                logp_d)
        costs = -logp
        grad = None
        if want_grad:
            beta = torch.full((B, Tm, U1), NEG_INF, **f64)
            beta_d = _arr(beta)
            _launch(_beta, _blocks(B), nt_u, stream, lpb_d, lpl_d, tl, ul, modified, beta_d)
            grad = torch.empty_like(x)
            box_t, box_u1 = padded_box if padded_box is not None else (Tm, U1)
            n_nodes = B * int(box_t) * int(box_u1)
            _launch(_grad, _blocks(n_nodes), _threads(V, V_THREADS), stream, xd, _arr(grad),
                    lse_d, lpb_d, lpl_d, alpha_d, beta_d, logp_d, tg, tl, ul, off, st,
                    int(box_t), int(box_u1), padded_box is not None, blank, modified, fused,
                    float(fastemit_lambda), float(clamp), scale)
    return costs, grad
