"""The environment: gymnasium's checker, bounds, the VecEnv twin, the shadow, scale."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from numpy.typing import NDArray
from rl_support import mortal_couple, scaled, small_household

from glidepath.engine.cashflows import build_schedule
from glidepath.engine.rollout import rollout
from glidepath.engine.state import Decision
from glidepath.household.model import (
    Account,
    Adult,
    AnnuityOffer,
    ClaimingWindow,
    Goals,
    Household,
    Income,
)
from glidepath.rl.actions import ACTION_DIM, CONSUMPTION_RANGE, SHARE_RANGE, decide, decode
from glidepath.rl.env import RetirementEnv
from glidepath.rl.lives import Lives, Reward
from glidepath.rl.observations import OBS_HIGH, OBS_LOW, OBSERVATION_SPACE
from glidepath.rl.vec_env import LivesVecEnv


def as_array(x: object) -> NDArray[np.float32]:
    """SB3 types observations as array | dict | tuple; ours are always arrays."""
    assert isinstance(x, np.ndarray)
    return x


def test_gymnasium_env_checker_accepts_the_single_env() -> None:
    check_env(RetirementEnv(small_household()), skip_render_check=True)


def test_one_episode_is_one_life_of_the_household_horizon() -> None:
    env = RetirementEnv(small_household())
    env.reset(seed=1)
    steps, done = 0, False
    while not done:
        _, _, done, truncated, _ = env.step(env.action_space.sample())
        assert not truncated
        steps += 1
    assert steps == build_schedule(small_household()).horizon == 8


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_observations_stay_in_bounds_under_random_and_extreme_actions(seed: int) -> None:
    env = LivesVecEnv(small_household(), 64, seed=seed)
    rng = np.random.default_rng(seed)
    obs = as_array(env.reset())
    for _ in range(3 * env.horizon):
        assert obs.dtype == np.float32 and np.isfinite(obs).all()
        assert OBSERVATION_SPACE.contains(obs[0])
        assert (obs >= OBS_LOW).all() and (obs <= OBS_HIGH).all()
        # Uniform actions, plus the corners (spend as much / as little as allowed).
        actions = np.sign(rng.standard_normal((64, ACTION_DIM))) * rng.uniform(
            0.5, 3.0, (64, ACTION_DIM)
        )
        raw, _, _, infos = env.step(actions)
        obs = as_array(raw)
        for info in infos:
            if "terminal_observation" in info:
                assert OBSERVATION_SPACE.contains(info["terminal_observation"])


def test_decoded_decisions_stay_within_their_limits() -> None:
    rng = np.random.default_rng(5)
    n = 10_000
    base = Decision(rng.uniform(0.0, 1.0, n), rng.uniform(0.0, 2e5, n))
    cash = rng.uniform(-5e4, 2e5, n)
    actions = rng.normal(0.0, 3.0, (n, ACTION_DIM))  # far outside [-1, 1]: clipped first
    d = decode(actions, base, cash)
    assert ((d.stock_share >= 0.0) & (d.stock_share <= 1.0)).all()
    assert ((d.consumption >= 0.0) & (d.consumption <= np.maximum(cash, 0.0))).all()
    assert (np.abs(d.stock_share - base.stock_share) <= SHARE_RANGE + 1e-12).all()
    inside = d.consumption < np.maximum(cash, 0.0)
    ratio = d.consumption[inside] / base.consumption[inside]
    assert (ratio <= np.exp(CONSUMPTION_RANGE) + 1e-9).all()
    assert (ratio >= np.exp(-CONSUMPTION_RANGE) - 1e-9).all()


def test_zero_action_is_the_merton_rule() -> None:
    lives = Lives(small_household(), 16)
    lives.reset(7)
    base = lives.rule.decide(lives.state)
    d = decode(np.zeros((16, ACTION_DIM)), base, lives.state.cash_on_hand)
    np.testing.assert_array_equal(d.stock_share, base.stock_share)
    np.testing.assert_array_equal(d.consumption, base.consumption)


@pytest.mark.parametrize("reward", [Reward.SHADOW, Reward.RULE_ADVANTAGE])
def test_the_rule_itself_earns_exactly_zero_against_itself(reward: Reward) -> None:
    lives = Lives(small_household(), 32, reward=reward)
    lives.reset(11)
    for _ in range(lives.horizon):
        result = lives.step(np.zeros((32, ACTION_DIM)))
        np.testing.assert_allclose(result.reward, 0.0, atol=1e-12)
    assert result.done


def test_shadow_return_is_the_plain_return_minus_the_rules_on_the_same_market() -> None:
    rng = np.random.default_rng(2)
    actions = rng.uniform(-1, 1, (8, 16, ACTION_DIM))
    returns = {}
    for reward in (Reward.SHADOW, Reward.OBJECTIVE):
        lives = Lives(small_household(), 16, reward=reward)
        lives.reset(3)
        for a in actions:
            lives.step(a)
        returns[reward] = lives.returns.copy()
    rule = Lives(small_household(), 16, reward=Reward.OBJECTIVE)
    rule.reset(3)
    for _ in range(8):
        rule.step(np.zeros((16, ACTION_DIM)))
    np.testing.assert_allclose(
        returns[Reward.SHADOW], returns[Reward.OBJECTIVE] - rule.returns, rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize("reward", list(Reward))
def test_rewards_do_not_change_when_all_money_is_scaled_by_ten(reward: Reward) -> None:
    rng = np.random.default_rng(4)
    actions = rng.uniform(-1, 1, (8, 32, ACTION_DIM))
    trajectories = []
    for k in (1.0, 10.0):
        lives = Lives(scaled(small_household(), k), 32, reward=reward)
        obs = [lives.reset(9)]
        rewards = []
        for a in actions:
            result = lives.step(a)
            obs.append(result.observation)
            rewards.append(result.reward)
        trajectories.append((np.array(obs), np.array(rewards)))
    np.testing.assert_allclose(trajectories[0][0], trajectories[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trajectories[0][1], trajectories[1][1], rtol=1e-5, atol=1e-7)


def test_vec_env_life_i_follows_the_single_env_with_the_same_seed() -> None:
    n, seed = 6, 42
    vec = LivesVecEnv(small_household(), n, seed=seed)
    rng = np.random.default_rng(0)
    horizon = vec.horizon
    actions = rng.uniform(-1, 1, (2 * horizon, n, ACTION_DIM)).astype(np.float32)
    vec_obs, vec_rewards, vec_dones = [as_array(vec.reset())], [], []
    terminal = []
    for a in actions:
        obs, rewards, dones, infos = vec.step(a)
        vec_obs.append(as_array(obs))
        vec_rewards.append(rewards)
        vec_dones.append(dones)
        if dones.all():
            terminal.append(np.array([info["terminal_observation"] for info in infos]))
            assert all(info["episode"]["l"] == horizon for info in infos)
    assert len(terminal) == 2  # two whole lives each, reset together, SB3 convention
    for i in (0, 3, 5):
        env = RetirementEnv(small_household(), path_index=i)
        obs, _ = env.reset(seed=seed)
        np.testing.assert_array_equal(obs, vec_obs[0][i])
        for k, a in enumerate(actions):
            obs, reward, done, _, _ = env.step(a[i])
            assert reward == pytest.approx(float(vec_rewards[k][i]), rel=1e-6, abs=1e-9)
            assert done == bool(vec_dones[k][i])
            if done:
                np.testing.assert_array_equal(obs, terminal[k // horizon][i])
                obs, _ = env.reset()
            np.testing.assert_array_equal(obs, vec_obs[k + 1][i])


def test_episodes_draw_fresh_markets() -> None:
    vec = LivesVecEnv(small_household(), 4, seed=1)
    vec.reset()
    first, second = [], []
    for _ in range(vec.horizon):
        _, r, _, _ = vec.step(np.full((4, ACTION_DIM), 0.5, dtype=np.float32))
        first.append(r)
    for _ in range(vec.horizon):
        _, r, _, _ = vec.step(np.full((4, ACTION_DIM), 0.5, dtype=np.float32))
        second.append(r)
    assert not np.allclose(np.array(first), np.array(second))
    assert vec.lives_done == 8


def annuity_retiree() -> Household:
    """A 90-year-old with an annuity offer open now and a floor (20 years to 110)."""
    return Household(
        adults=(Adult(90, 90, 95),),
        incomes=(Income(amount=8_000.0, start_age=90),),
        accounts=(Account(balance=300_000.0, stock_share=0.5, bond_share=0.5),),
        goals=Goals(retirement_spending=30_000.0, essential_fraction=0.8),
        annuities=AnnuityOffer(),
    )


def claiming_retiree() -> Household:
    """``small_household`` whose pension (default age 63) may be claimed from 61 to 66."""
    base = small_household()
    pension = replace(base.incomes[0], claiming=ClaimingWindow(61, 66))
    return replace(base, incomes=(pension,))


# The paired advantage holds for each world: a fixed horizon, deaths, an annuity
# purchase (the third action) and a claim (the fourth) that the rule then continues from.
HOUSEHOLDS = {
    "claiming": claiming_retiree,
    "fixed horizon": small_household,
    "mortal couple": mortal_couple,
    "annuity retiree": annuity_retiree,
}


@pytest.mark.parametrize("t", [0, 3, 7])
@pytest.mark.parametrize("which", sorted(HOUSEHOLDS))
def test_rule_advantage_is_the_paired_value_of_one_years_decision(t: int, which: str) -> None:
    """r_t = U(a_t, then the rule) - U(the rule from t), both on the life's own market
    (and, under mortality, its own deaths)."""
    household = HOUSEHOLDS[which]()
    rng = np.random.default_rng(t)
    n, horizon = 16, build_schedule(household).horizon
    prefix = rng.uniform(-1, 1, (t + 1, n, ACTION_DIM))
    advantage = Lives(household, n, reward=Reward.RULE_ADVANTAGE)
    advantage.reset(21)
    for a in prefix:
        result = advantage.step(a)
    totals = []
    for deviate in (True, False):
        plain = Lives(household, n, reward=Reward.OBJECTIVE)
        plain.reset(21)
        for k in range(horizon):
            use = k < t or (k == t and deviate)
            plain.step(prefix[k] if use else np.zeros((n, ACTION_DIM)))
        totals.append(plain.returns.copy())
    np.testing.assert_allclose(result.reward, totals[0] - totals[1], rtol=1e-4, atol=1e-6)
    assert np.abs(result.reward).max() > 0


@pytest.mark.parametrize("which", sorted(HOUSEHOLDS))
def test_deferred_rewards_equal_the_immediate_ones(which: str) -> None:
    """The trainer's lockstep continuations give exactly the gymnasium env's rewards."""
    household = HOUSEHOLDS[which]()
    rng = np.random.default_rng(8)
    actions = rng.uniform(-1, 1, (build_schedule(household).horizon, 12, ACTION_DIM))
    immediate = Lives(household, 12, reward=Reward.RULE_ADVANTAGE)
    deferred = Lives(household, 12, reward=Reward.RULE_ADVANTAGE, deferred=True)
    immediate.reset(5)
    deferred.reset(5)
    rewards = []
    for a in actions:
        rewards.append(immediate.step(a).reward)
        assert deferred.deferred_rewards is None
        late = deferred.step(a)
        np.testing.assert_array_equal(late.reward, 0.0)
    assert late.done and deferred.deferred_rewards is not None
    np.testing.assert_allclose(deferred.deferred_rewards, np.array(rewards), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(deferred.returns, immediate.returns, rtol=1e-9, atol=1e-9)


def test_the_deferred_vec_env_hands_over_each_lifes_rewards() -> None:
    vec = LivesVecEnv(small_household(), 5, seed=3, deferred=True)
    vec.reset()
    for _ in range(vec.horizon):
        _, rewards, dones, infos = vec.step(np.full((5, ACTION_DIM), 0.3, dtype=np.float32))
        np.testing.assert_array_equal(rewards, 0.0)
    assert dones.all() and vec.last_episode_rewards is not None
    assert vec.last_episode_rewards.shape == (vec.horizon, 5)
    sums = vec.last_episode_rewards.sum(axis=0)
    np.testing.assert_allclose([info["episode"]["r"] for info in infos], sums)


def test_sb3_seeding_does_not_change_the_markets_and_later_phases_continue_them() -> None:
    def first_rewards(env: LivesVecEnv, reseed: int | None) -> NDArray[np.float32]:
        if reseed is not None:
            env.seed(reseed)  # what PPO does with its own seed
        env.reset()
        _, rewards, _, _ = env.step(np.full((3, ACTION_DIM), 0.5, dtype=np.float32))
        return np.asarray(rewards)

    household = small_household()
    plain = first_rewards(LivesVecEnv(household, 3, seed=4), None)
    reseeded = first_rewards(LivesVecEnv(household, 3, seed=4), 12345)
    np.testing.assert_array_equal(plain, reseeded)
    other_seed = first_rewards(LivesVecEnv(household, 3, seed=5), None)
    later = first_rewards(LivesVecEnv(household, 3, seed=4, first_episode=1), None)
    assert not np.allclose(plain, other_seed) and not np.allclose(plain, later)


def test_under_mortality_the_agent_lives_the_simulators_lives() -> None:
    """The base rule stepped by the env (zero actions, the plain objective) earns exactly
    what a rollout of "floor and upside" scores on the same seed: the same deaths, the
    floor's penalty, nothing after the last death, the bequest at death."""
    household = mortal_couple()
    n = 64
    lives = Lives(household, n, reward=Reward.OBJECTIVE)
    lives.reset(77)
    done = False
    while not done:
        done = lives.step(np.zeros((n, ACTION_DIM))).done
    replay = rollout(household, "floor_upside", n, seed=77)
    np.testing.assert_allclose(lives.returns, replay.utility, rtol=1e-9)
    deaths = lives.state.death_year
    assert deaths is not None and 0 < (deaths.max(axis=0) + 1).mean() < lives.horizon


def test_the_observation_says_who_is_alive_and_how_long_lives_may_last() -> None:
    household = mortal_couple()
    n = 400
    lives = Lives(household, n)
    obs = lives.reset(5)
    np.testing.assert_array_equal(obs[:, 9:11], 1.0)  # both alive at the start
    outlook = obs[:, 11].copy()
    for _ in range(6):
        result = lives.step(np.zeros((n, ACTION_DIM)))
    alive = lives.state.alive
    assert alive is not None and not alive.all() and alive.any()
    np.testing.assert_array_equal(result.observation[:, 9:11], alive.T.astype(np.float32))
    # A lone survivor expects fewer years than the couple did six years before.
    lone = alive.sum(axis=0) == 1
    assert (result.observation[lone, 11] < outlook[lone]).all()
    # The floor: 60 % of the target, a lone survivor's 70 % of that.
    target = household.goals.retirement_spending
    floor = result.observation[:, 12] * target
    np.testing.assert_allclose(floor[lone], 0.6 * 0.7 * target, rtol=1e-6)
    np.testing.assert_allclose(floor[alive.all(axis=0)], 0.6 * target, rtol=1e-6)


def test_the_third_action_buys_annuities_only_where_an_offer_is_open() -> None:
    lives = Lives(annuity_retiree(), 4)
    lives.reset(3)
    base = lives.rule.decide(lives.state)
    action = np.array([[0.0, 0.0, a] for a in (-1.0, 0.0, 0.3, 2.0)])
    decision = decide(action, base, lives.state)
    assert decision.annuitise is not None
    np.testing.assert_allclose(decision.annuitise, [0.0, 0.0, 0.3, 1.0])
    assert decide(action[:, :2], base, lives.state).annuitise is None  # two outputs: none
    plain = Lives(small_household(), 4)
    plain.reset(3)
    assert decide(action, plain.rule.decide(plain.state), plain.state).annuitise is None
    # The observation shows the payout rate on offer and, after a purchase, the income.
    obs = lives.reset(3)
    price = build_schedule(annuity_retiree()).annuities
    assert price is not None
    np.testing.assert_allclose(obs[:, 13], 1.0 / price.price[1, 0], rtol=1e-6)
    np.testing.assert_array_equal(obs[:, 14], 0.0)
    result = lives.step(action)
    held = result.observation[:, 14]
    assert held[0] == held[1] == 0.0 and 0.0 < held[2] < held[3]
