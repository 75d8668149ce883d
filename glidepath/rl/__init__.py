"""Reinforcement learning over the engine: environment, trainer, safe loading, evaluation.

Heavy imports (torch, stable-baselines3) live in the submodules; import what you need:
``glidepath.rl.training.train``, ``glidepath.rl.evaluation.evaluate``,
``glidepath.rl.model_io.load_policy``, ``glidepath.rl.policy_strategy.PolicyStrategy``.
"""
