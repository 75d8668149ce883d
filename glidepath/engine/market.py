"""The market: correlated annual returns of stocks, bonds, cash and inflation.

Why this shape:
- Each asset's gross nominal return (and gross inflation) is lognormal with its log
  parameters matched to the stated arithmetic mean mu and volatility sigma:
  s^2 = ln(1 + sigma^2 / (1 + mu)^2), m = ln(1 + mu) - s^2 / 2, so E[R] = 1 + mu and
  sd[R] = sigma exactly. The correlation matrix applies to the log returns.
- Student-t: the log returns are multivariate t with the household's degrees of freedom
  nu, scaled to the same mean and covariance of the log returns (a t draw has variance
  nu / (nu - 2), so it is multiplied by sqrt((nu - 2) / chi2_nu)). E[exp(t)] is infinite
  in theory, so each standardised shock is truncated at +-``T_SHOCK_LIMIT`` (at nu = 5
  that removes about 1.5e-4 of the mass); the mean of the returns then exists.
- Everything downstream is real (today's money): real gross return = nominal gross /
  gross inflation, computed as exp(log nominal - log inflation), exact to an ulp.
- The part of the portfolio not in stocks is split between bonds and cash in the
  household's fixed bond:cash ratio (``bond_fraction`` of it in bonds), so one
  "non-stock" return serves every strategy: a strategy only chooses the stock share.
- Common random numbers: :class:`Scenarios` derives path i's shocks from
  (seed, i // BLOCK_PATHS) alone: one ``SeedSequence(seed, spawn_key=(block,))`` per
  block of ``BLOCK_PATHS`` paths, each drawing its shocks year by year. Path i therefore
  sees the same market in every strategy and whatever the batch split. The generators
  are SFC64 and the normal shocks float32 (drawn about twice as fast as PCG64 float64);
  the shocks are only rounded to 1e-7 relative, far below Monte Carlo error, and every
  transformation after the draw is float64.
- Regime switching (``regimes``): each path's regime follows a yearly Markov chain drawn
  from streams of its own; the year's returns come from the path's regime's lognormal
  model, both regimes reading the same shocks. Every summary (means, covariances, the
  quadrature, what rules plan with) is that of the stationary mixture. The chain runs a
  year ahead of the returns (``YearReturns.turbulent_next``, ``first_turbulent``) so that
  a household that observes the regime sees it before deciding
  (:mod:`glidepath.engine.regime_belief`); a strategy sees it only through the state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from glidepath.household.model import AssetClass, MarketAssumptions, ReturnModel

if TYPE_CHECKING:
    from .regimes import RegimeChain

FloatArray = NDArray[np.float64]

#: Paths per random-number block; batch sizes should be multiples of it (not required).
BLOCK_PATHS = 1024
#: Truncation of the standardised Student-t shocks (in standard deviations).
T_SHOCK_LIMIT = 8.0

STOCKS, BONDS, CASH, INFLATION = 0, 1, 2, 3


def log_parameters(asset: AssetClass) -> tuple[float, float]:
    """(m, s): mean and sd of ln(1 + r) for an arithmetic mean and volatility of r."""
    gross = 1.0 + asset.expected_return
    s2 = math.log1p(asset.volatility**2 / gross**2)
    return math.log(gross) - s2 / 2.0, math.sqrt(s2)


def _psd_factor(corr: FloatArray) -> FloatArray:
    """A with A A^T = corr, robust to a singular (merely semi-definite) matrix."""
    vals, vecs = np.linalg.eigh(corr)
    return np.asarray(vecs * np.sqrt(np.clip(vals, 0.0, None)), dtype=np.float64)


@dataclass(frozen=True)
class YearReturns:
    """One year's gross returns for n paths; real (deflated) except ``inflation``."""

    stocks: FloatArray
    # None when the household's non-stock mix holds none of it (then it is not drawn).
    bonds: FloatArray | None
    cash: FloatArray | None
    # Real gross return of the household's non-stock mix (bonds and cash, fixed ratio).
    nonstock: FloatArray
    # Gross inflation: P_{t+1} / P_t.
    inflation: FloatArray
    # Under regimes: each path's regime next year (True = turbulent), drawn a year ahead
    # so that a household that observes the regime sees it before deciding; None without.
    turbulent_next: NDArray[np.bool_] | None = None

    @property
    def n_paths(self) -> int:
        return int(self.stocks.shape[0])


class MarketModel:
    """The return distribution of one household's market, with its fixed bond:cash ratio."""

    def __init__(self, market: MarketAssumptions, bond_fraction: float = 1.0) -> None:
        from .regimes import regime_market, stationary_market  # regimes build on this module

        self.market = market
        self.bond_fraction = float(bond_fraction)
        #: Under regime switching: (calm, turbulent) models, each lognormal, that draw the
        #: returns; every summary of this model is the stationary mixture's (the regimes
        #: averaged), which is what a household that cannot see the regime plans with.
        self.switching = market.switching
        self.regime_models: tuple[MarketModel, MarketModel] | None = None
        if self.switching is not None:
            self.regime_models = (
                MarketModel(regime_market(market.calm_regime()), bond_fraction),
                MarketModel(regime_market(self.switching.turbulent), bond_fraction),
            )
            market = stationary_market(market)
        params = [
            log_parameters(market.stocks),
            log_parameters(market.bonds),
            log_parameters(market.cash),
            log_parameters(AssetClass(market.inflation_mean, market.inflation_volatility)),
        ]
        m = np.array([p[0] for p in params])
        s = np.array([p[1] for p in params])
        corr = np.array(market.correlations, dtype=np.float64)
        #: Mean and covariance of the nominal log returns (stocks, bonds, cash, inflation).
        self.log_mean: FloatArray = m
        self.log_cov: FloatArray = corr * np.outer(s, s)
        loading = s[:, None] * _psd_factor(corr)
        # Rows: real log returns of stocks, bonds, cash (minus inflation), then inflation.
        to_real = np.eye(4)
        to_real[:3, INFLATION] = -1.0
        #: Mean and loading of (real stocks, real bonds, real cash, inflation) log returns.
        self.real_log_mean: FloatArray = to_real @ m
        self.real_loading: FloatArray = to_real @ loading
        self.real_log_cov: FloatArray = self.real_loading @ self.real_loading.T
        self.student_t = market.return_model is ReturnModel.STUDENT_T
        self.degrees_of_freedom = float(market.degrees_of_freedom)
        # Drawing: only the rows a portfolio can use (cash or bonds drop out when the
        # non-stock mix holds none), factored to their rank, so a path-year costs as few
        # normal draws as the model has random dimensions (3 for a stock/bond household).
        active = [STOCKS]
        active += [BONDS] if self.bond_fraction > 0 else []
        active += [CASH] if self.bond_fraction < 1 else []
        active += [INFLATION]
        self._active = active
        cov = self.real_log_cov[np.ix_(active, active)]
        vals, vecs = np.linalg.eigh(cov)
        keep = vals > 1e-14 * max(float(vals.max()), 1e-300)
        #: Loading of the active real log returns on the independent shocks (k x r).
        self.draw_loading: FloatArray = np.asarray(
            vecs[:, keep] * np.sqrt(vals[keep]), dtype=np.float64
        )
        self.draw_mean: FloatArray = self.real_log_mean[active]

    @property
    def shock_dimension(self) -> int:
        """Normal shocks per path and year (under regimes: the larger regime's)."""
        if self.regime_models is not None:
            return max(r.shock_dimension for r in self.regime_models)
        return int(self.draw_loading.shape[1])

    # -- summaries used by rules and the optimum -------------------------------------------

    def expected_real_gross(self) -> FloatArray:
        """E[real gross return] of (stocks, bonds, cash) under the lognormal model."""
        var = np.diag(self.real_log_cov)[:3]
        return np.asarray(np.exp(self.real_log_mean[:3] + var / 2.0), dtype=np.float64)

    def expected_nonstock_gross(self) -> float:
        """E[real gross return] of the non-stock mix (the household's 'safe' asset)."""
        e = self.expected_real_gross()
        return float(self.bond_fraction * e[BONDS] + (1.0 - self.bond_fraction) * e[CASH])

    @property
    def inflation_deterministic(self) -> bool:
        """No random inflation (under regimes: neither regime's, and the same mean)."""
        return bool(self.log_cov[INFLATION, INFLATION] == 0.0)

    # -- drawing ---------------------------------------------------------------------------

    def returns_from_shocks(
        self,
        z: FloatArray,
        chi2: FloatArray | None = None,
        turbulent: NDArray[np.bool_] | None = None,
    ) -> YearReturns:
        """Returns from standard normal shocks ``z`` of shape (shock_dimension, n).

        ``chi2`` (chi-square draws, one per path) is needed by the Student-t model and
        ``turbulent`` (each path's regime this year) by the regime-switching one. ``z``
        is consumed (overwritten) to avoid temporaries in the hot loop.
        """
        if self.regime_models is not None:
            if turbulent is None:
                raise ValueError("the regime-switching model needs each path's regime")
            return self._regime_returns(z, turbulent)
        n = z.shape[1]
        if self.student_t:
            if chi2 is None:
                raise ValueError("the Student-t model needs chi-square draws")
            z *= np.sqrt((self.degrees_of_freedom - 2.0) / chi2)
            np.clip(z, -T_SHOCK_LIMIT, T_SHOCK_LIMIT, out=z)
        if z.shape[0]:
            logs = self.draw_loading @ z
            logs += self.draw_mean[:, None]
        else:
            logs = np.repeat(self.draw_mean[:, None], n, axis=1)
        np.exp(logs, out=logs)
        rows = dict(zip(self._active, logs, strict=True))
        stocks, inflation = rows[STOCKS], rows[INFLATION]
        bonds, cash = rows.get(BONDS), rows.get(CASH)
        if bonds is not None and cash is not None:
            bf = self.bond_fraction
            nonstock = bf * bonds + (1.0 - bf) * cash
        else:
            nonstock = bonds if bonds is not None else rows[CASH]
        return YearReturns(stocks, bonds, cash, nonstock, inflation)

    def _regime_returns(self, z: FloatArray, turbulent: NDArray[np.bool_]) -> YearReturns:
        """Each path's returns from its regime's model, the same shocks feeding both."""
        assert self.regime_models is not None
        calm, rough = (
            r.returns_from_shocks(np.array(z[: r.shock_dimension])) for r in self.regime_models
        )

        def pick(a: FloatArray | None, b: FloatArray | None) -> FloatArray | None:
            return None if a is None or b is None else np.where(turbulent, b, a)

        stocks, nonstock, inflation = (
            pick(calm.stocks, rough.stocks),
            pick(calm.nonstock, rough.nonstock),
            pick(calm.inflation, rough.inflation),
        )
        assert stocks is not None and nonstock is not None and inflation is not None
        return YearReturns(
            stocks, pick(calm.bonds, rough.bonds), pick(calm.cash, rough.cash), nonstock, inflation
        )

    def sample(self, rng: np.random.Generator, n_paths: int) -> YearReturns:
        """One year for ``n_paths`` independent paths from ``rng`` (e.g. for an RL env);
        under regimes each path's regime is drawn from the stationary law."""
        z = rng.standard_normal((self.shock_dimension, n_paths))
        chi2 = rng.chisquare(self.degrees_of_freedom, n_paths) if self.student_t else None
        turbulent = None
        if self.switching is None:
            return self.returns_from_shocks(z, chi2)
        p, q = self.switching.calm_to_turbulent, self.switching.turbulent_to_calm
        turbulent = rng.random(n_paths) < self.switching.stationary_turbulent()
        follows = rng.random(n_paths)
        after = np.where(turbulent, follows >= q, follows < p)
        return replace(self.returns_from_shocks(z, chi2, turbulent), turbulent_next=after)


class Scenarios:
    """The market of paths [start, start + n_paths) for one seed, drawn year by year.

    Call :meth:`year` with t = 0, 1, 2, ... in order. Every block of ``BLOCK_PATHS``
    paths has its own generator, so path i's returns depend only on (seed, i).
    """

    def __init__(self, model: MarketModel, seed: int, start: int, n_paths: int) -> None:
        if start < 0 or n_paths <= 0:
            raise ValueError("need start >= 0 and n_paths > 0")
        self.model = model
        self.n_paths = n_paths
        first = start // BLOCK_PATHS
        last = (start + n_paths - 1) // BLOCK_PATHS
        self._offset = start - first * BLOCK_PATHS
        self._generators = [
            np.random.Generator(np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(b,))))
            for b in range(first, last + 1)
        ]
        n_all = len(self._generators) * BLOCK_PATHS
        self._z = np.empty((model.shock_dimension, n_all), dtype=np.float32)
        self._chi2 = np.empty(n_all) if model.student_t else None
        self._regimes: RegimeChain | None = None
        if model.switching is not None:
            from .regimes import RegimeChain  # regimes build on this module

            self._regimes = RegimeChain(model.switching, seed, start, n_paths)
        #: Each path's regime in the last year drawn (True = turbulent); None without regimes.
        self.turbulent: NDArray[np.bool_] | None = None
        #: Each path's regime in the first year (the chain is drawn a year ahead of the
        #: returns, on its own streams, so this changes no draw); None without regimes.
        self.first_turbulent: NDArray[np.bool_] | None = None
        if self._regimes is not None:
            self.first_turbulent = self._regimes.next_year()
        self._ahead = self.first_turbulent
        self._next_year = 0

    def year(self, t: int) -> YearReturns:
        if t != self._next_year:
            raise ValueError(f"scenario years are drawn in order: expected {self._next_year}")
        self._next_year += 1
        z, chi2, nu = self._z, self._chi2, self.model.degrees_of_freedom
        for i, gen in enumerate(self._generators):
            lo, hi = i * BLOCK_PATHS, (i + 1) * BLOCK_PATHS
            for k in range(z.shape[0]):
                gen.standard_normal(out=z[k, lo:hi], dtype=np.float32)
            if chi2 is not None:
                chi2[lo:hi] = gen.chisquare(nu, BLOCK_PATHS)
        sl = slice(self._offset, self._offset + self.n_paths)
        zz = np.array(z[:, sl], dtype=np.float64)
        cc = None if chi2 is None else chi2[sl]
        if self._regimes is None:
            return self.model.returns_from_shocks(zz, cc)
        self.turbulent, self._ahead = self._ahead, self._regimes.next_year()
        returns = self.model.returns_from_shocks(zz, cc, self.turbulent)
        return replace(returns, turbulent_next=self._ahead)
