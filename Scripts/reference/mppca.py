"""Reference implementation (numpy) of MixFill's factor family ("mppca"), from which
Scripts/reference/mppca_reference.py generates the values Tests/Fixtures/mppca/ holds for the
Swift tests. Not used by MixFill itself.

MixFill "mppca" prototype: mixture of probabilistic PCA with SHARED loadings W, one sigma^2,
component means m_j, Gaussian priors w_i ~ N(0, I/lam_W), m_ji ~ N(0, 1/lam_m), fitted by ECM on
the residuals of the bias baseline (mu0 + b_u + b_i), with missing entries.

Everything is vectorised with sparse user x item matrices (numpy + scipy.sparse). Single threaded:
run with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1.

Library use:
    recs = load_records(path)              # (m,3) float array sorted by (user, item), as surprise_peer.py
    for train, test in folds(recs): ...    # boolean masks, exactly `mixfill eval --folds 5`
"""
import os
import sys
import time

import numpy as np
import scipy.sparse as sp
from scipy.special import logsumexp

LOG2PI = np.log(2 * np.pi)


# ----------------------------------------------------------------------------- data
def load_records(path):
    """(user id, item id, rating) rows sorted by (user, item) numerically (= surprise_peer.load).
    A dense text matrix (0 = missing) is turned into records (row+1, col+1, value)."""
    if path.endswith("netflix_incomplete.txt") or path.endswith("_incomplete.txt"):
        X = np.loadtxt(path)
        r, c = np.nonzero(X)
        a = np.c_[r + 1, c + 1, X[r, c]].astype(float)
    else:
        with open(path) as f:
            first = f.readline()
        header = not any(ch.isdigit() for ch in first.split(",")[0].split()[0])
        delim = "," if "," in first else None
        a = np.loadtxt(path, delimiter=delim, skiprows=1 if header else 0, usecols=(0, 1, 2))
    return a[np.lexsort((a[:, 1], a[:, 0]))]


def folds(recs, k=5):
    """Test masks of `mixfill eval --folds 5` / surprise_peer.py: np.random.seed(0), one permutation."""
    m = len(recs)
    np.random.seed(0)
    perm = np.random.permutation(m)
    out = []
    for f in range(k):
        test = np.zeros(m, bool)
        test[perm[f * m // k:(f + 1) * m // k]] = True
        out.append(test)
    return out


def index(recs):
    """Dense 0-based user and item indices (sorted ids)."""
    uids, u = np.unique(recs[:, 0], return_inverse=True)
    iids, i = np.unique(recs[:, 1], return_inverse=True)
    return u, i, len(uids), len(iids)


# ----------------------------------------------------------------------------- bias baseline
class Bias:
    """Baselines.swift BiasBaseline: ALS sweeps with the exact shift step, tol 1e-10, <=1000 sweeps."""

    def __init__(self, u, i, r, n, d, lu=15.0, li=10.0, tol=1e-10, max_sweeps=1000):
        self.mu = r.mean()
        nu = np.bincount(u, minlength=n).astype(float)
        ni = np.bincount(i, minlength=d).astype(float)
        bu, bi = np.zeros(n), np.zeros(d)
        ru, ri = nu > 0, ni > 0
        for sweep in range(1, max_sweeps + 1):
            new = np.bincount(u, r - self.mu - bi[i], minlength=n) / (lu + nu)
            ch = np.abs(new - bu).max(); bu = new
            new = np.bincount(i, r - self.mu - bu[u], minlength=d) / (li + ni)
            ch = max(ch, np.abs(new - bi).max()); bi = new
            shift = (li * bi.sum() - lu * bu.sum()) / (lu * ru.sum() + li * ri.sum())
            bu[ru] += shift; bi[ri] -= shift
            ch = max(ch, abs(shift))
            if ch <= tol:
                break
        self.bu, self.bi, self.sweeps = bu, bi, sweep

    def predict(self, u, i):
        return self.mu + self.bu[u] + self.bi[i]


def rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def mae(a, b):
    return float(np.mean(np.abs(a - b)))


# ----------------------------------------------------------------------------- model
class Train:
    """Residual training data in sparse form. u, i: 0-based indices; e: residuals."""

    def __init__(self, u, i, e, n, d):
        self.u, self.i, self.e, self.n, self.d, self.m = u, i, e, n, d, len(e)
        self.R = sp.csr_matrix((e, (u, i)), shape=(n, d))
        self.M = sp.csr_matrix((np.ones_like(e), (u, i)), shape=(n, d))
        self.RT, self.MT = self.R.T.tocsr(), self.M.T.tocsr()
        self.nu = np.bincount(u, minlength=n).astype(float)
        self.ni = np.bincount(i, minlength=d).astype(float)
        self.e2u = np.bincount(u, e * e, minlength=n)
        self.e2 = float(e @ e)
        self.active = self.nu > 0


class Params:
    """MAP: Sig is None. VB variant: Sig (d x D x D) is the covariance of q(theta_i), theta_i = [w_i; m_i]."""

    def __init__(self, W, Mu, s2, pi, Sig=None):
        self.W, self.Mu, self.s2, self.pi, self.Sig = W, Mu, float(s2), pi, Sig  # W d x q, Mu d x K

    def copy(self):
        return Params(self.W.copy(), self.Mu.copy(), self.s2, self.pi.copy(),
                      None if self.Sig is None else self.Sig.copy())


def estep(T, P):
    """Returns dict with per-user LL, responsibilities p (n x K), Zbar (n x K x q), Ainv (n x q x q),
    logN (n x K)."""
    W, Mu, s2, pi = P.W, P.Mu, P.s2, P.pi
    d, q = W.shape
    K = Mu.shape[1]
    n = T.n
    WW = (W[:, :, None] * W[:, None, :]).reshape(d, q * q)
    if P.Sig is not None:
        WW = WW + P.Sig[:, :q, :q].reshape(d, q * q)
    A = np.eye(q)[None] + (T.M @ WW).reshape(n, q, q) / s2
    L = np.linalg.cholesky(A)
    logdetA = 2 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(1)
    Ainv = np.linalg.inv(A)
    B0 = T.R @ W                                                           # n x q
    Bm = (T.M @ (W[:, :, None] * Mu[:, None, :]).reshape(d, q * K)).reshape(n, q, K)
    B = B0[:, :, None] - Bm                                                # n x q x K
    rr = T.e2u[:, None] - 2 * (T.R @ Mu) + T.M @ (Mu * Mu)                 # n x K
    if P.Sig is not None:
        B = B - (T.M @ P.Sig[:, :q, q:].reshape(d, q * K)).reshape(n, q, K)
        rr = rr + T.M @ np.diagonal(P.Sig[:, q:, q:], axis1=1, axis2=2)
    AB = np.einsum("uab,ubk->uak", Ainv, B)                                # n x q x K
    quad = (B * AB).sum(1)                                                 # n x K
    logN = (-0.5 * T.nu * (LOG2PI + np.log(s2)) - 0.5 * logdetA)[:, None] - (rr - quad / s2) / (2 * s2)
    with np.errstate(divide="ignore"):
        f = np.log(pi)[None, :] + logN
    LL = logsumexp(f, axis=1)
    p = np.exp(f - LL[:, None])
    LL = np.where(T.active, LL, 0.0)
    Zbar = np.transpose(AB, (0, 2, 1)) / s2                                # n x K x q
    return dict(LL=LL, p=p, Zbar=Zbar, Ainv=Ainv, logN=logN)


def objective(T, P, E, lamW, lamM):
    """MAP: sum LL_u - lamW/2 |W|^2 - lamM/2 |m|^2.  VB: ELBO = sum LL_u - sum_i KL(q(theta_i) || prior)."""
    if P.Sig is None:
        return float(E["LL"].sum() - 0.5 * lamW * (P.W ** 2).sum() - 0.5 * lamM * (P.Mu ** 2).sum())
    q, K = P.W.shape[1], P.Mu.shape[1]
    lam = np.r_[np.full(q, lamW), np.full(K, lamM)]
    th = np.c_[P.W, P.Mu]
    L = np.linalg.cholesky(P.Sig)
    logdet = 2 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(1)
    kl = 0.5 * ((np.diagonal(P.Sig, axis1=1, axis2=2) * lam).sum(1) + (th * th * lam).sum(1)
                - (q + K) - np.log(lam).sum() - logdet)
    return float(E["LL"].sum() - kl.sum())


def suff_stats(T, E):
    p, Zbar, Ainv = E["p"], E["Zbar"], E["Ainv"]
    n, K, q = Zbar.shape
    D = q + K
    S = np.zeros((n, D, D))
    S[:, :q, :q] = Ainv + np.einsum("uk,uka,ukb->uab", p, Zbar, Zbar)
    pz = p[:, :, None] * Zbar                                              # n x K x q
    S[:, :q, q:] = np.transpose(pz, (0, 2, 1))
    S[:, q:, :q] = pz
    S[:, q + np.arange(K), q + np.arange(K)] = p
    Ez = np.concatenate([pz.sum(1), p], axis=1)                            # n x D
    act = T.active.astype(float)
    S *= act[:, None, None]
    G = (T.MT @ S.reshape(n, D * D)).reshape(T.d, D, D)
    h = T.RT @ Ez
    return G, h


def mstep(T, P, E, lamW, lamM):
    """MAP (P.Sig is None): theta_i = (G_i + s2_old Lam)^-1 h_i, then s2 = E[SSE]/m.
    VB: the same mean, Sig_i = s2_old (G_i + s2_old Lam)^-1, s2 = (E[SSE] + sum tr(G_i Sig_i))/m."""
    q, K = P.W.shape[1], P.Mu.shape[1]
    G, h = suff_stats(T, E)
    reg = P.s2 * np.r_[np.full(q, lamW), np.full(K, lamM)]
    H = G + np.diag(reg)[None]
    Sig = None
    if P.Sig is None:
        theta = np.linalg.solve(H, h[:, :, None])[:, :, 0]
    else:
        Hinv = np.linalg.inv(H)
        theta = np.einsum("iab,ib->ia", Hinv, h)
        Sig = P.s2 * Hinv
    sse = T.e2 - 2 * (theta * h).sum() + np.einsum("ia,iab,ib->", theta, G, theta)
    if Sig is not None:
        sse += np.einsum("iab,iba->", G, Sig)
    pa = E["p"][T.active]
    pi = pa.sum(0) / pa.shape[0]
    return Params(theta[:, :q].copy(), theta[:, q:].copy(), sse / T.m, pi, Sig)


def init_k1(T, q, how="svd", seed=0, scale=0.1):
    if how == "svd":
        from scipy.sparse.linalg import svds
        rng = np.random.RandomState(seed)
        v0 = rng.rand(min(T.n, T.d))
        U, s, Vt = svds(T.R, k=q, v0=v0)
        o = np.argsort(-s)
        W = (Vt[o].T * s[o]) / np.sqrt(T.active.sum())
    elif how == "random":
        W = np.random.RandomState(seed).randn(T.d, q) * scale
        W[T.ni == 0] = 0
    else:
        raise ValueError(how)
    return Params(W, np.zeros((T.d, 1)), T.e2 / T.m, np.ones(1))


def to_vb(P, lamW, lamM):
    """Start a VB fit from MAP-style params: q(theta_i) = N(theta_i, prior covariance / 100)."""
    q, K = P.W.shape[1], P.Mu.shape[1]
    lam = np.r_[np.full(q, lamW), np.full(K, lamM)]
    Sig = np.broadcast_to(np.diag(0.01 / lam), (P.W.shape[0], q + K, q + K)).copy()
    return Params(P.W.copy(), P.Mu.copy(), P.s2, P.pi.copy(), Sig)


def update_lambdas(T, P, lamW, lamM, learn):
    """VB empirical Bayes: maximise the ELBO over the prior precisions given q(theta) (rated items);
    unrated items are reset to the new prior (their KL stays 0). learn: 'W', 'm' or 'Wm'."""
    q, K = P.W.shape[1], P.Mu.shape[1]
    r = T.ni > 0
    dg = np.diagonal(P.Sig, axis1=1, axis2=2)
    if "W" in learn:
        lamW = q * r.sum() / ((P.W[r] ** 2).sum() + dg[r, :q].sum())
    if "m" in learn:
        lamM = K * r.sum() / ((P.Mu[r] ** 2).sum() + dg[r, q:].sum())
    P.Sig[~r] = np.diag(1 / np.r_[np.full(q, lamW), np.full(K, lamM)])
    return lamW, lamM


def fit(T, P, lamW, lamM, max_iter=200, tol=1e-6, check=True, verbose=False, trace=None, learn=""):
    """ECM from P. Stops when (obj_t - obj_{t-1}) <= tol*|obj_t| or after max_iter M-steps.
    Returns (params, E-step at params, objective, iterations). Asserts monotonicity.
    learn (VB only): also re-estimate lamW ('W') and/or lamM ('m') every iteration; the final
    values are stored in P.lamW, P.lamM."""
    E = estep(T, P)
    obj = objective(T, P, E, lamW, lamM)
    if trace is not None:
        trace.append(obj)
    it = 0
    while it < max_iter:
        P = mstep(T, P, E, lamW, lamM)
        if learn:
            lamW, lamM = update_lambdas(T, P, lamW, lamM, learn)
        E = estep(T, P)
        new = objective(T, P, E, lamW, lamM)
        it += 1
        if trace is not None:
            trace.append(new)
        if check:
            assert new - obj >= -1e-9 * abs(obj), (it, obj, new)
        if verbose:
            print(f"  it {it} obj {new:.6f} s2 {P.s2:.5f}", file=sys.stderr)
        done = (new - obj) <= tol * abs(new)
        obj = new
        if done:
            break
    P.lamW, P.lamM = lamW, lamM
    return P, E, obj, it


def predict_resid(P, E, u, i):
    """ê_ui = sum_j p_j(u) (m_ji + w_i^T zbar_j(u))."""
    p, Zbar = E["p"][u], E["Zbar"][u]                                     # t x K, t x K x q
    return (p * (P.Mu[i] + np.einsum("tkq,tq->tk", Zbar, P.W[i]))).sum(1)


# ----------------------------------------------------------------------------- pipeline
class Split:
    """One train/test split: bias offsets on train, residual Train, test arrays."""

    def __init__(self, u, i, r, n, d, train, test):
        self.n, self.d = n, d
        self.tu, self.ti, self.tr = u[train], i[train], r[train]
        self.bias = Bias(self.tu, self.ti, self.tr, n, d)
        e = self.tr - self.bias.predict(self.tu, self.ti)
        self.T = Train(self.tu, self.ti, e, n, d)
        self.lo, self.hi = self.tr.min(), self.tr.max()
        self.su, self.si, self.sr = u[test], i[test], r[test]
        self.seen_user = self.T.active[self.su]

    def bias_pred(self):
        b = self.bias
        return np.clip(b.mu + b.bu[self.su] + b.bi[self.si], self.lo, self.hi)

    def model_pred(self, P, E):
        b = self.bias
        base = b.mu + b.bu[self.su] + b.bi[self.si]
        res = predict_resid(P, E, self.su, self.si)
        res = np.where(self.seen_user, res, 0.0)
        return np.clip(base + res, self.lo, self.hi)

    def rmse(self, pred):
        return rmse(pred, self.sr)


def make_splits(recs, k=5):
    u, i, n, d = index(recs)
    r = recs[:, 2]
    return [Split(u, i, r, n, d, ~t, t) for t in folds(recs, k)]


def load(path):
    """Records from a ratings file (CSV with a header, whitespace triplets, or a dense matrix)."""
    return load_records(path)
