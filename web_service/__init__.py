"""The web front end: a household form, live progress, results and model management.

A fourth process (``python -m web_service``) that speaks to the three gRPC services only
through their contracts, as the command-line client does (``web_service.clients``).
"""
