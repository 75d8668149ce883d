"""Advice a person can act on: the summary of an answer, and every strategy in words.

``strategies`` names each strategy and says what it does in one sentence; ``summary``
writes the summary of an answer from plain domain objects; ``convert`` reads the
services' answers into those objects. The CLI, the web page and the API all print
``summary``'s text, so they say the same thing.
"""
