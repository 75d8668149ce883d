"""``python -m glidepath.cli``: the same as the ``glidepath`` console script."""

from glidepath.cli.main import main

main()
