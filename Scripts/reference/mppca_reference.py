"""Reference values for MixFill's Swift unit tests of the "mppca" model family, from the
numpy implementation in Scripts/reference/mppca.py. Run from the repository root:

    python3 Scripts/reference/mppca_reference.py

Generates, in Tests/Fixtures/mppca/ (records.txt and the MAP variant's files are written
too; the tests read init.json, offsets.json and vb_K{1,2}.json):
  records.txt     the data: the non-zero entries of the top-left 30 users x 40 items block of
                  data/netflix_incomplete.txt as `user item rating` lines
                  (0-based row, column; ratings 1-5), user-major, items ascending.
  offsets.json    the bias baseline fitted on those records (mu0, b_u, b_i: Baselines.swift scheme,
                  lambda_u = 15, lambda_i = 10, ALS + shift step, tol 1e-10) and the residuals
                  e_ui = r_ui - mu0 - b_u - b_i in record order.
  init.json       the initial parameters (also given by formula below).
  {map,vb}_K{1,2}.json  objective after 0 (initial params), 1, 2, 5 M-steps, the iteration count and
                  objective at convergence, the final W, m, sigma2, pi (and for vb the item
                  covariances' diagonals and lambda-free ELBO), and predictions r_hat for all
                  30 x 40 pairs (clipped to [1, 5]).
All floats are written with repr() (shortest round-trip), so a Swift test can compare to ~1e-12.

Settings: q = 2, lam_W = 5, lam_m = 1.
Initial parameters (d = 40 items, i = 0..39, k = 0..q-1):
  W0[i][k] = 0.1 * cos(1 + i + 0.5 k)
  K = 1: m0[i][0] = 0;             pi0 = [1]
  K = 2: m0[i][j] = (+0.1, -0.1)[j] * sin(1 + i);  pi0 = [0.4, 0.6]
  sigma2_0 = mean of e^2 over the records.
  vb only: Sig0_i = diag(0.01/lam_W (q times), 0.01/lam_m (K times)) for every item.
Objective: MAP  = sum_u LL_u - lam_W/2 |W|_F^2 - lam_m/2 |m|_F^2   (no normalising constants of the prior)
           VB   = sum_u LL_u - sum_i KL(N(theta_i, Sig_i) || N(0, diag(1/lam)))   (full KL)
Stopping: after M-step t, stop when obj_t - obj_{t-1} <= 1e-6 |obj_t| or t = 200.
Usage: python3 mppca_reference.py
"""
import json
import os

import numpy as np

import mppca as M

OUT = os.path.join("Tests", "Fixtures", "mppca")
Q, LAMW, LAMM = 2, 5.0, 1.0


def main():
    os.makedirs(OUT, exist_ok=True)
    X = np.loadtxt("data/netflix_incomplete.txt")[:30, :40]
    u, i = np.nonzero(X)  # row-major = user-major, items ascending
    r = X[u, i]
    n, d = X.shape
    assert np.all(np.bincount(u, minlength=n) > 0) and np.all(np.bincount(i, minlength=d) > 0)
    with open(os.path.join(OUT, "records.txt"), "w") as f:
        for a, b, c in zip(u, i, r):
            f.write(f"{a} {b} {int(c)}\n")
    bias = M.Bias(u, i, r, n, d)
    e = r - bias.predict(u, i)
    json.dump(dict(count=len(r), mu0=bias.mu, b_u=bias.bu.tolist(), b_i=bias.bi.tolist(), sweeps=bias.sweeps,
                   residuals=e.tolist()), open(os.path.join(OUT, "offsets.json"), "w"), indent=1)
    T = M.Train(u, i, e, n, d)
    ii, kk = np.meshgrid(np.arange(d), np.arange(Q), indexing="ij")
    W0 = 0.1 * np.cos(1 + ii + 0.5 * kk)
    s20 = T.e2 / T.m
    m2 = np.c_[0.1 * np.sin(1 + np.arange(d)), -0.1 * np.sin(1 + np.arange(d))]
    json.dump(dict(q=Q, lam_W=LAMW, lam_m=LAMM, W0=W0.tolist(), sigma2_0=s20, m0_K2=m2.tolist(),
                   pi0_K2=[0.4, 0.6]), open(os.path.join(OUT, "init.json"), "w"), indent=1)
    uu, jj = np.meshgrid(np.arange(n), np.arange(d), indexing="ij")
    uu, jj = uu.ravel(), jj.ravel()
    for vb in (False, True):
        for K in (1, 2):
            Mu0 = np.zeros((d, 1)) if K == 1 else m2.copy()
            pi0 = np.ones(1) if K == 1 else np.array([0.4, 0.6])
            P = M.Params(W0.copy(), Mu0, s20, pi0)
            if vb:
                P = M.to_vb(P, LAMW, LAMM)
            trace = []
            P, E, obj, it = M.fit(T, P, LAMW, LAMM, max_iter=200, tol=1e-6, trace=trace)
            pred = np.clip(bias.mu + bias.bu[uu] + bias.bi[jj] + M.predict_resid(P, E, uu, jj), 1, 5)
            rec = dict(model="vb" if vb else "map", K=K, q=Q, lam_W=LAMW, lam_m=LAMM,
                       objective_after={str(t): trace[t] for t in (0, 1, 2, 5)},
                       objective_trace=trace, iterations=it, final_objective=obj,
                       W=P.W.tolist(), m=P.Mu.tolist(), sigma2=P.s2, pi=P.pi.tolist(),
                       responsibilities=E["p"].tolist(), LL_users=E["LL"].tolist(),
                       predictions_row_major_30x40=pred.tolist())
            if vb:
                rec["Sig_diag"] = np.diagonal(P.Sig, axis1=1, axis2=2).tolist()
                rec["Sig_item0"] = P.Sig[0].tolist()
            fn = os.path.join(OUT, f"{rec['model']}_K{K}.json")
            json.dump(rec, open(fn, "w"), indent=1)
            print(fn, "iterations", it, "obj after 0,1,2,5:", [repr(trace[t]) for t in (0, 1, 2, 5)],
                  "final", repr(obj), "sigma2", repr(P.s2), "pi", [repr(float(x)) for x in P.pi])


if __name__ == "__main__":
    main()
