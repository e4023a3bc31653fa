"""Numba CUDA kernels of the RNN-T loss (imported lazily by ``backend="cuda"``).

- row statistics: one thread per logit row (log-sum-exp over V);
- alpha and beta: one block per utterance sweeping the lattice as a wavefront (anti-diagonals
  t + u for the standard transducer, rows t for the modified one) with a barrier between
  fronts: no spin locks, and threads loop over u, so neither U nor B is limited;
- gradient: one block per lattice node (b, t, u), its threads stride over V.

Under ``NUMBA_ENABLE_CUDASIM=1`` the same kernels run in Numba's simulator on CPU arrays,
which is how CI checks them; host arrays are then handed to the kernels directly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import cuda

NEG_INF = -math.inf
_SIM = cuda.simulator_enabled if hasattr(cuda, "simulator_enabled") else False


def _threads(n: int, cap: int) -> int:
    t = 1
    while t < n and t < cap:
        t *= 2
    return t


@cuda.jit(device=True, inline=True)
def _lae(a, b):
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@cuda.jit
def _row_lse(x, lse):
    r = cuda.grid(1)
    if r >= x.shape[0]:
        return
    V = x.shape[1]
    m = x[r, 0]
    for v in range(1, V):
        if x[r, v] > m:
            m = x[r, v]
    s = 0.0
    for v in range(V):
        s += math.exp(x[r, v] - m)
    lse[r] = m + math.log(s)


@cuda.jit
def _lattice_lp(x, lse, targets, tlen, ulen, offsets, strides, blank, lpb, lpl):
    """Blank/label log-probs on each utterance's lattice, boxed as (B, T, U+1)."""
    i = cuda.grid(1)
    B, Tm, U1 = lpb.shape
    if i >= B * Tm * U1:
        return
    b = i // (Tm * U1)
    t = (i // U1) % Tm
    u = i % U1
    if t >= tlen[b] or u > ulen[b]:
        return
    r = offsets[b] + t * strides[b] + u
    lpb[b, t, u] = x[r, blank] - lse[r]
    if u < ulen[b]:
        lpl[b, t, u] = x[r, targets[b, u]] - lse[r]


@cuda.jit
def _alpha(lpb, lpl, tlen, ulen, modified, alpha, logp):
    b = cuda.blockIdx.x
    T = tlen[b]
    U = ulen[b]
    nth = cuda.blockDim.x
    tid = cuda.threadIdx.x
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


@cuda.jit
def _beta(lpb, lpl, tlen, ulen, modified, beta):
    b = cuda.blockIdx.x
    T = tlen[b]
    U = ulen[b]
    nth = cuda.blockDim.x
    tid = cuda.threadIdx.x
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


@cuda.jit
def _grad(x, g, lse, lpb, lpl, alpha, beta, logp, targets, tlen, ulen, offsets, strides,
          blank, modified, fused, fastemit_lambda, clamp, scale):
    """One block per node of the (B, T, U+1) box; threads stride over V."""
    i = cuda.blockIdx.x
    B, Tm, U1 = lpb.shape
    b = i // (Tm * U1)
    t = (i // U1) % Tm
    u = i % U1
    T = tlen[b]
    U = ulen[b]
    V = g.shape[1]
    tid = cuda.threadIdx.x
    nth = cuda.blockDim.x
    if t >= T or u > U:  # padding: its rows were zero-filled on allocation
        return
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
    s = scale[b]
    v = tid
    while v < V:
        val = 0.0
        if fused:
            val = math.exp(x[r, v] - lse[r]) * occ
        if v == blank:
            val -= eb
        if v == label:
            val -= el
        if clamp > 0.0:
            val = min(max(val, -clamp), clamp)
        g[r, v] = val * s
        v += nth


def _to_device(t):
    """A kernel argument for tensor or array ``t``: zero-copy for CUDA tensors."""
    if isinstance(t, torch.Tensor):
        if t.is_cuda:
            return cuda.as_cuda_array(t.detach())
        return t.detach().numpy()
    return np.ascontiguousarray(t)


def rnnt_rows(x, targets, logit_lengths, target_lengths, offsets, strides, *, blank, fused,
              modified, fastemit_lambda, clamp, batch_scale, want_grad):
    """Same contract as :func:`lab.transducer.cpu.rnnt_rows`, on the GPU (or simulator)."""
    dev = x.device
    N, V = x.shape
    lt = np.asarray(logit_lengths.cpu() if isinstance(logit_lengths, torch.Tensor)
                    else logit_lengths)
    ut = np.asarray(target_lengths.cpu() if isinstance(target_lengths, torch.Tensor)
                    else target_lengths)
    B, Tm, U1 = len(lt), int(lt.max()), int(ut.max()) + 1
    fdt = torch.float32
    opts = {"device": dev, "dtype": fdt}
    lse = torch.zeros(N, **opts)
    lpb = torch.full((B, Tm, U1), NEG_INF, **opts)
    lpl = torch.full((B, Tm, max(U1 - 1, 1)), NEG_INF, **opts)
    alpha = torch.full((B, Tm, U1), NEG_INF, **opts)
    beta = torch.full((B, Tm, U1), NEG_INF, **opts)
    logp = torch.zeros(B, **opts)
    xd = _to_device(x)
    tg, tl, ul = _to_device(targets), _to_device(logit_lengths), _to_device(target_lengths)
    off, st = _to_device(offsets), _to_device(strides)
    lse_d, lpb_d, lpl_d = _to_device(lse), _to_device(lpb), _to_device(lpl)
    alpha_d, beta_d, logp_d = _to_device(alpha), _to_device(beta), _to_device(logp)
    cap = 32 if _SIM else 256
    if fused:
        nt = _threads(N, cap)
        _row_lse[(N + nt - 1) // nt, nt](xd, lse_d)
    n_box = B * Tm * U1
    nt = _threads(n_box, cap)
    _lattice_lp[(n_box + nt - 1) // nt, nt](xd, lse_d, tg, tl, ul, off, st, blank, lpb_d, lpl_d)
    nt_u = _threads(U1, 8 if _SIM else 1024)
    _alpha[B, nt_u](lpb_d, lpl_d, tl, ul, modified, alpha_d, logp_d)
    costs = -logp.double()
    grad = None
    if want_grad:
        _beta[B, nt_u](lpb_d, lpl_d, tl, ul, modified, beta_d)
        grad = torch.zeros_like(x)
        scale = torch.as_tensor(np.asarray(batch_scale, dtype=np.float32), device=dev)
        _grad[n_box, _threads(V, 16 if _SIM else 256)](
            xd, _to_device(grad), lse_d, lpb_d, lpl_d, alpha_d, beta_d, logp_d, tg, tl, ul,
            off, st, blank, modified, fused, float(fastemit_lambda), float(clamp),
            _to_device(scale),
        )
    return costs.cpu().numpy(), grad
