"""Versions that decide whether a stored model still fits a household's problem.

Both are folded into the canonical household hash (the registry's key), so a change of
either gives every household a new hash and no model trained for the old meaning is ever
reused. They live here, apart from the household and RL packages, so that the hash does
not have to import the RL code (and torch) to know them.
"""

#: The meaning of the household's fields to the engine (cash flows, market, objective).
#: 2: lifetimes (mortality or a fixed horizon), explicit life tables, survivor fractions of
#: incomes and of spending, the essential-spending floor.
HOUSEHOLD_SCHEMA_VERSION = 2

#: The policy's observation layout, action decoding and network (``glidepath.rl``).
#: 2: who is alive, the survival outlook and the floor observed; corrections of "floor
#: and upside" (the Merton-style rule with the floor secured) instead of the plain rule.
#: 3: a third action buys life annuities where an offer is open; the annuity payout rate
#: on offer and the income held observed.
#: 4: a fourth action plans the claiming age of pensions with a claiming window; the
#: pension income claimed, and what claiming now pays and locks in, observed.
#: 5: the household's parameters observed (risk aversion, the market's moments, the
#: horizon) as features 19-24, so that one generic policy can serve a family of
#: households. (Feature 18, the regime belief, came under 4 with the regimes themselves:
#: every household with regimes was new then, so no hash had to move.)
#: 6: a claim may be deferred past the default age only as far as half the cash on hand
#: pays for the pensions forgone (``glidepath.rl.actions.deferral_years``).
POLICY_LAYOUT_VERSION = 6
