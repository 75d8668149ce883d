"""Gauss-Hermite nodes for one year's real (stock, non-stock) gross returns.

Under the lognormal model the real log returns of stocks, bonds and cash are jointly
normal. Only the assets the portfolio can hold matter (stocks, plus bonds and/or cash
in the household's fixed ratio), so the nodes live on the principal axes of their
covariance: a tensor product of Gauss-Hermite rules, more nodes along larger axes,
degenerate axes (zero variance) dropped. The non-stock return is the bond:cash mix of
the two lognormals, evaluated exactly at every node (it is not itself lognormal).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from .cashflows import FloatArray
from .logmath import logsumexp
from .market import BONDS, CASH, STOCKS, MarketModel

#: Nodes along the principal axes, largest first.
DEFAULT_NODES = (16, 7, 3)


@dataclass(frozen=True)
class ReturnNodes:
    stocks: FloatArray  # real gross, shape (Q,)
    nonstock: FloatArray  # real gross, shape (Q,)
    weights: FloatArray  # probabilities, sum to 1

    def portfolio(self, share: FloatArray) -> FloatArray:
        """Gross returns of stock shares ``share`` (K,) at every node: shape (K, Q)."""
        return np.asarray(
            self.nonstock[None, :] + share[:, None] * (self.stocks - self.nonstock)[None, :],
            dtype=np.float64,
        )


def return_nodes(model: MarketModel, nodes: tuple[int, ...] = DEFAULT_NODES) -> ReturnNodes:
    bf = model.bond_fraction
    used = [STOCKS] + ([BONDS] if bf > 0 else []) + ([CASH] if bf < 1 else [])
    mean = model.real_log_mean[used]
    cov = model.real_log_cov[np.ix_(used, used)]
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    tol = 1e-14 * max(float(vals[0]), 1e-300)
    axes = [k for k in range(len(vals)) if vals[k] > tol]
    rules = []
    for rank, k in enumerate(axes):
        x, w = hermegauss(nodes[min(rank, len(nodes) - 1)])
        rules.append((x * math.sqrt(vals[k]), w / math.sqrt(2.0 * math.pi), vecs[:, k]))
    points: list[FloatArray] = []
    weights: list[float] = []
    for combo in itertools.product(*[range(len(r[0])) for r in rules]):
        z = mean.copy()
        weight = 1.0
        for (x, wx, v), i in zip(rules, combo, strict=True):
            z = z + x[i] * v
            weight *= float(wx[i])
        points.append(z)
        weights.append(weight)
    logs = np.array(points).reshape(-1, len(used))
    gross = np.exp(logs)
    stocks = gross[:, 0]
    if bf == 1.0 or bf == 0.0:
        nonstock = gross[:, 1]
    else:
        nonstock = bf * gross[:, 1] + (1.0 - bf) * gross[:, 2]
    wts = np.array(weights)
    return ReturnNodes(stocks, nonstock, wts / wts.sum())


def log_expected_power(nodes: ReturnNodes, share: FloatArray, gamma: float) -> FloatArray:
    """ln E[R_p^(1-gamma)] for each share (E[ln R_p] at gamma = 1), as a log-sum-exp.

    Finite wherever the returns are, although E[R_p^(1-gamma)] itself overflows for risk
    aversion near 0.1 in the most optimistic markets validation allows.
    """
    rp = nodes.portfolio(share)
    if gamma == 1.0:
        return np.asarray(np.log(rp) @ nodes.weights, dtype=np.float64)
    return logsumexp((1.0 - gamma) * np.log(rp) + np.log(nodes.weights)[None, :], axis=1)


def samuelson_share(nodes: ReturnNodes, gamma: float) -> float:
    """The constant stock share in [0, 1] maximising E[u(R_p)] (Samuelson's discrete optimum)."""
    grid = np.linspace(0.0, 1.0, 1001)
    objective = log_expected_power(nodes, grid, gamma)
    # maximise E[R^(1-g)]/(1-g): for g > 1 minimise E[R^(1-g)], for g < 1 maximise it.
    score = -objective if gamma > 1.0 else objective
    k = int(np.argmax(score))
    if 0 < k < len(grid) - 1:
        y0, y1, y2 = score[k - 1], score[k], score[k + 1]
        denom = y0 - 2 * y1 + y2
        shift = 0.5 * (y0 - y2) / denom if denom != 0 else 0.0
        return float(grid[k] + shift * (grid[1] - grid[0]))
    return float(grid[k])


def samuelson_log_b(nodes: ReturnNodes, share: float, gamma: float) -> float:
    """ln b, b = E[R_p^(1-gamma)]^(1/gamma): c_n / W = (1 - b) / (1 - b^n), n decisions left.

    Returned as a logarithm: b itself reaches about 1e16 at risk aversion 0.1 in an
    optimistic market, and b^n then overflows long before the consumption it sets does.
    """
    if gamma == 1.0:
        return 0.0
    return float(log_expected_power(nodes, np.array([share]), gamma)[0]) / gamma
