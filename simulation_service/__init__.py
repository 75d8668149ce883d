"""The simulation service: Monte Carlo evaluation and comparison of strategies."""
