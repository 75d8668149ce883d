"""The model registry service: hash -> stable-baselines3 zip, with metadata and cleanup."""
