"""glidepath's shared library: what more than one service uses.

- ``glidepath.{common,registry,simulation,training}.v1``: stubs generated from ``protos/``
  (``make protos``), never edited by hand;
- ``glidepath.errors``: the domain's error types, free of gRPC;
- ``glidepath.rpc``: the thin gRPC plumbing every service shares (server bootstrap,
  health, reflection, logging, auth, error translation, client channels);
- ``glidepath.config`` and ``glidepath.log``: environment settings and structured logs.
"""

__version__ = "0.1.0"
