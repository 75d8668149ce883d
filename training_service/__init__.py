"""The training service: reinforcement-learning jobs that save their models to the registry."""
