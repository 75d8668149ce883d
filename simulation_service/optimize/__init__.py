"""Optimize: find or train a policy for a household, judge it, recommend a strategy.

``request`` validates the call, ``flow`` tells the story over the two peers (``peers``),
``policies`` keeps loaded policies by SHA-256, ``judge`` runs the engine and the gate,
``interrupt`` carries one call's cancellation and deadline to every wait.
"""
