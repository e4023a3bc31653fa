"""Numba CPU kernels of the RNN-T loss.

Design (costs measured on the 2-core target machine decide it): the exponentials dominate,
scalar ``math.exp`` in Numba is not vectorized (no SVML in the pip llvmlite) while torch's
``exp`` is. So every logit is exponentiated exactly once, by one torch softmax written
straight into the gradient buffer (small inputs: one Numba region instead, where start-up
costs dominate); the Numba kernels then recover each node's log-sum-exp from it, run the
alpha/beta DP per utterance (parallel over the batch) and finally scale that buffer in
place, one pass over V per lattice node (parallel over nodes). Nothing of size
(B, T, U+1, V) is allocated besides the gradient itself; the rest is O(B*T*U).

Layout: the logits are seen as rows (N, V). Row of node (b, t, u) is
``offset[b] + t * stride[b] + u``; the padded layout has ``stride = U_max + 1`` and the packed
layout of optimized_transducer has ``stride = U_b + 1``, so one kernel serves both.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

NEG_INF = -np.inf
# Up to this many logits the exponentials run in one Numba region instead of torch ops.
SMALL = 1 << 22


@njit(cache=True, inline="always")
def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@njit(cache=True)
def utterance_dp(lpb, lpl, modified):
    """alpha, beta (T, U+1) and log P for one utterance from its lattice log-probs.

    ``lpb`` (T, U+1) blank log-probs, ``lpl`` (T, U) label log-probs, float64.
    """
    T, U1 = lpb.shape
    U = U1 - 1
    alpha = np.full((T, U1), NEG_INF)
    beta = np.full((T, U1), NEG_INF)
    alpha[0, 0] = 0.0
    if modified:
        for t in range(1, T):
            for u in range(U1):
                a = alpha[t - 1, u] + lpb[t - 1, u]
                if u > 0:
                    a = _logaddexp(a, alpha[t - 1, u - 1] + lpl[t - 1, u - 1])
                alpha[t, u] = a
        logp = alpha[T - 1, U] + lpb[T - 1, U]
        if U > 0:
            logp = _logaddexp(logp, alpha[T - 1, U - 1] + lpl[T - 1, U - 1])
        beta[T - 1, U] = lpb[T - 1, U]
        if U > 0:
            beta[T - 1, U - 1] = lpl[T - 1, U - 1]
        for t in range(T - 2, -1, -1):
            for u in range(U1):
                b = beta[t + 1, u] + lpb[t, u]
                if u < U:
                    b = _logaddexp(b, beta[t + 1, u + 1] + lpl[t, u])
                beta[t, u] = b
    else:
        for t in range(T):
            for u in range(U1):
                if t == 0 and u == 0:
                    continue
                a = NEG_INF
                if t > 0:
                    a = alpha[t - 1, u] + lpb[t - 1, u]
                if u > 0:
                    a = _logaddexp(a, alpha[t, u - 1] + lpl[t, u - 1])
                alpha[t, u] = a
        logp = alpha[T - 1, U] + lpb[T - 1, U]
        for t in range(T - 1, -1, -1):
            for u in range(U, -1, -1):
                if t == T - 1 and u == U:
                    beta[t, u] = lpb[t, u]
                    continue
                b = NEG_INF
                if t < T - 1:
                    b = beta[t + 1, u] + lpb[t, u]
                if u < U:
                    b = _logaddexp(b, beta[t, u + 1] + lpl[t, u])
                beta[t, u] = b
    return alpha, beta, logp


@njit(cache=True)
def edge_posteriors(alpha, beta, logp, lpb, lpl, modified):
    """Posterior probability of each blank edge (T, U+1) and label edge (T, U)."""
    T, U1 = lpb.shape
    U = U1 - 1
    eb = np.zeros((T, U1))
    el = np.zeros((T, max(U, 0)))
    if logp == NEG_INF:
        return eb, el
    for t in range(T):
        for u in range(U1):
            a = alpha[t, u]
            if a == NEG_INF:
                continue
            if t < T - 1:
                nb = beta[t + 1, u]
            else:
                nb = 0.0 if u == U else NEG_INF
            if nb != NEG_INF:
                eb[t, u] = math.exp(a + lpb[t, u] + nb - logp)
            if u < U:
                if modified:
                    if t < T - 1:
                        nl = beta[t + 1, u + 1]
                    else:
                        nl = 0.0 if u + 1 == U else NEG_INF
                else:
                    nl = beta[t, u + 1]
                if nl != NEG_INF:
                    el[t, u] = math.exp(a + lpl[t, u] + nl - logp)
    return eb, el


@njit(parallel=True, cache=True)
def row_softmax_kernel(x, g, lse):
    """g = softmax(x) per row and its log-sum-exp, in one parallel region.

    Scalar exp is not vectorized here, so this only serves small inputs, where the start-up
    of torch's parallel regions costs more than the exponentials.
    """
    N, V = x.shape
    for r in prange(N):
        m = x[r, 0]
        for v in range(1, V):
            if x[r, v] > m:
                m = x[r, v]
        s = 0.0
        for v in range(V):
            e = math.exp(x[r, v] - m)
            g[r, v] = e
            s += e
        inv = 1.0 / s
        for v in range(V):
            g[r, v] *= inv
        lse[r] = m + math.log(s)


@njit(cache=True, inline="always")
def _lse_from_softmax(x, g, r, hint):
    """log-sum-exp of row r from its softmax: x_v - log p_v for a v whose p_v is not tiny.

    The hint (blank) almost always qualifies; otherwise the most probable class does
    (p >= 1/V), so the log never loses precision.
    """
    p = g[r, hint]
    if p > 1e-20:
        return x[r, hint] - math.log(p)
    best = g[r, 0]
    vb = 0
    for v in range(1, g.shape[1]):
        if g[r, v] > best:
            best = g[r, v]
            vb = v
    return x[r, vb] - math.log(best)


@njit(parallel=True, cache=True)
def lattice_kernel(
    x, lse, targets, logit_lengths, target_lengths, offsets, strides, blank, modified,
    fastemit_lambda, probs, derive_lse, batch_scale, coef, sub_blank, sub_label, label, valid,
    row_scale, costs, want_grad, fused,
):
    """alpha/beta per utterance (parallel over b) and per-node gradient coefficients.

    ``x`` (N, V) logits or log-probs; ``lse`` (N,) their log-sum-exp (zeros when the input
    already holds log-probs). With ``derive_lse`` it is computed here, row by row, from
    ``probs`` (N, V), the softmax of ``x``. Writes per node row: ``coef`` (softmax multiplier),
    ``sub_blank``/``sub_label`` (edge posteriors subtracted at blank / at the label),
    ``label`` (-1 when none), ``valid`` and ``row_scale`` (``batch_scale[b]``, the reduction
    factor); writes ``costs[b] = -log P``, or NaN when a row inside the utterance is not a
    usable distribution (``fused``: its log-sum-exp is NaN or infinite, i.e. it holds NaN or
    +inf or only -inf; otherwise: a used log-prob is NaN or +inf); such an utterance gets no
    gradient, and the caller reports it.
    """
    B = logit_lengths.shape[0]
    for b in prange(B):
        T = logit_lengths[b]
        U = target_lengths[b]
        base = offsets[b]
        st = strides[b]
        lpb = np.empty((T, U + 1))
        lpl = np.empty((T, U))
        bad = False
        for t in range(T):
            for u in range(U + 1):
                r = base + t * st + u
                if derive_lse:
                    lse[r] = _lse_from_softmax(x, probs, r, blank)
                if fused and not abs(lse[r]) < np.inf:
                    bad = True
                lpb[t, u] = x[r, blank] - lse[r]
                if not lpb[t, u] < np.inf:
                    bad = True
                if u < U:
                    lpl[t, u] = x[r, targets[b, u]] - lse[r]
                    if not lpl[t, u] < np.inf:
                        bad = True
        if bad:
            costs[b] = np.nan
            continue
        alpha, beta, logp = utterance_dp(lpb, lpl, modified)
        costs[b] = -logp
        if not want_grad:
            continue
        eb, el = edge_posteriors(alpha, beta, logp, lpb, lpl, modified)
        for t in range(T):
            for u in range(U + 1):
                r = base + t * st + u
                valid[r] = 1
                row_scale[r] = batch_scale[b]
                e_l = el[t, u] if u < U else 0.0
                coef[r] = eb[t, u] + (1.0 + fastemit_lambda) * e_l
                sub_blank[r] = eb[t, u]
                sub_label[r] = (1.0 + fastemit_lambda) * e_l
                label[r] = targets[b, u] if u < U else -1


@njit(parallel=True, cache=True)
def gradient_kernel(g, coef, sub_blank, sub_label, label, valid, row_scale, blank, clamp, fused):
    """Turn the buffer ``g`` (N, V) into the gradient in place, one pass over V per row.

    fused: ``g`` holds softmax(x) and becomes softmax * occupancy - edge posteriors;
    otherwise ``g`` is overwritten with the (sparse) gradient w.r.t. log-probs. Rows outside
    every utterance are zeroed, so padding never leaks into the result.
    """
    N, V = g.shape
    for r in prange(N):
        if valid[r] == 0:
            for v in range(V):
                g[r, v] = 0.0
            continue
        s = row_scale[r]
        # Without clipping the reduction factor folds into the coefficients: one pass over V.
        pre = 1.0 if clamp > 0.0 else s
        if fused:
            c = coef[r] * pre
            for v in range(V):
                g[r, v] = g[r, v] * c
        else:
            for v in range(V):
                g[r, v] = 0.0
        g[r, blank] -= sub_blank[r] * pre
        if label[r] >= 0:
            g[r, label[r]] -= sub_label[r] * pre
        if clamp > 0.0:
            for v in range(V):
                val = g[r, v]
                if val > clamp:
                    val = clamp
                elif val < -clamp:
                    val = -clamp
                g[r, v] = val * s


@njit(cache=True)
def viterbi(lpb, lpl, modified):
    """Best path through the lattice: (log-prob, nodes (K, 2) of (t, u) before each emission,
    and a flag per step: 0 blank, 1 label)."""
    T, U1 = lpb.shape
    U = U1 - 1
    score = np.full((T, U1), NEG_INF)
    back = np.zeros((T, U1), dtype=np.int8)  # 0: came by blank, 1: by label
    score[0, 0] = 0.0
    for t in range(T):
        for u in range(U1):
            if t == 0 and u == 0:
                continue
            best = NEG_INF
            how = 0
            if t > 0:
                best = score[t - 1, u] + lpb[t - 1, u]
            if u > 0:
                if modified:
                    cand = score[t - 1, u - 1] + lpl[t - 1, u - 1] if t > 0 else NEG_INF
                else:
                    cand = score[t, u - 1] + lpl[t, u - 1]
                if cand > best:
                    best = cand
                    how = 1
            score[t, u] = best
            back[t, u] = how
    # Final emission leaves the lattice from (T-1, U) by blank, or (modified) from (T-1, U-1).
    total = score[T - 1, U] + lpb[T - 1, U]
    last_label = False
    if modified and U > 0:
        cand = score[T - 1, U - 1] + lpl[T - 1, U - 1]
        if cand > total:
            total = cand
            last_label = True
    n_steps = T + U if not modified else T
    nodes = np.zeros((n_steps, 2), dtype=np.int64)
    kinds = np.zeros(n_steps, dtype=np.int8)
    if total == NEG_INF:
        return total, nodes[:0], kinds[:0]
    k = n_steps - 1
    t, u = T - 1, U
    if last_label:
        u = U - 1
        kinds[k] = 1
    nodes[k, 0] = t
    nodes[k, 1] = u
    while k > 0:
        how = back[t, u]
        # Whatever the scores (NaN compares false everywhere), never step off the lattice:
        # node k lies on front k (t + u == k; t == k when modified), so at k > 0 one of
        # the two moves always stays inside.
        if how == 1 and u == 0:
            how = 0
        elif how == 0 and t == 0:
            how = 1
        if how == 1:
            u -= 1
            if modified:
                t -= 1
        else:
            t -= 1
        k -= 1
        nodes[k, 0] = t
        nodes[k, 1] = u
        kinds[k] = how
    return total, nodes, kinds


def rnnt_rows(
    x,
    targets,
    logit_lengths,
    target_lengths,
    offsets,
    strides,
    *,
    blank: int,
    fused: bool,
    modified: bool,
    fastemit_lambda: float,
    clamp: float,
    batch_scale,
    want_grad: bool,
):
    """Costs (B,) and, if ``want_grad``, the gradient (N, V) of sum_b scale_b * cost_b.

    ``x`` is a contiguous float32/float64 torch tensor (N, V); integer inputs are int64
    numpy arrays. The gradient is per-utterance clipped to [-clamp, clamp] before scaling.
    An utterance with NaN/+inf (or an all -inf row) inside its lattice costs NaN and gets a
    zero gradient; the caller turns that into an error.
    """
    import torch

    N, V = x.shape
    B = logit_lengths.shape[0]
    np_dtype = np.float64 if x.dtype == torch.float64 else np.float32
    g = torch.empty_like(x) if want_grad else None
    derive_lse = False
    if not fused:
        lse = np.zeros(N, dtype=np_dtype)
    elif not want_grad:
        lse = torch.logsumexp(x, dim=1).numpy()
    elif N * V <= SMALL:
        lse = np.empty(N, dtype=np_dtype)
        row_softmax_kernel(x.numpy(), g.numpy(), lse)
    else:
        # One vectorized torch softmax straight into the gradient buffer: every logit is
        # exponentiated once, rows stay in cache, and the log-sum-exp of each lattice node is
        # recovered from it inside the lattice kernel (no extra pass over V).
        torch.ops.aten._softmax.out(x, 1, False, out=g)
        lse = np.empty(N, dtype=np_dtype)
        derive_lse = True
    n_coef = N if want_grad else 0
    coef = np.zeros(n_coef, dtype=np_dtype)
    sub_blank = np.zeros(n_coef, dtype=np_dtype)
    sub_label = np.zeros(n_coef, dtype=np_dtype)
    label = np.full(n_coef, -1, dtype=np.int64)
    valid = np.zeros(n_coef, dtype=np.uint8)
    row_scale = np.zeros(n_coef, dtype=np_dtype)
    costs = np.zeros(B, dtype=np.float64)
    lattice_kernel(
        x.numpy(), lse, targets, logit_lengths, target_lengths, offsets, strides, blank,
        modified, float(fastemit_lambda), g.numpy() if g is not None else x.numpy(), derive_lse,
        np.asarray(batch_scale, dtype=np_dtype),
        coef, sub_blank, sub_label, label, valid, row_scale, costs, want_grad, fused,
    )
    if want_grad:
        gradient_kernel(
            g.numpy(), coef, sub_blank, sub_label, label, valid, row_scale, blank,
            float(clamp), fused,
        )
    return costs, g
