"""Typed, synchronous clients for glidepath's three services, shared by every caller.

The CLI, the web service and the services themselves (training uploads to the registry;
simulation asks the registry and the training service) talk to a peer only through
these classes, so that deadlines, credentials, TLS and model transfers are written once.

Shape (after grpc's ``examples/python/route_guide/route_guide_client.py``)::

    from glidepath.clients import Caller, RegistryClient, connected

    with connected("127.0.0.1:50053") as channel:          # TLS from GLIDEPATH_TLS_CA
        registry = RegistryClient(channel, Caller(token))  # every call carries the token
        model = registry.get(ref)                          # ModelMetadata
        everyone = registry.list_all(ListModelsRequest())  # every page, one response

- ``channel``: ``connected`` (a channel closed after use), ``Caller`` (the credential
  and the user a service acts for, as call metadata), ``Deadlines`` (seconds per kind
  of call) and ``Stream`` (a server stream the caller may ``cancel()``).
- ``registry``: ``RegistryClient`` (find, get, list, upload, download, delete,
  cleanup, quarantine, record an evaluation, near models) and ``ModelTooLarge``.
- ``training``: ``TrainingClient`` (start, watch, get, list, cancel a job).
- ``simulation``: ``SimulationClient`` (simulate, compare, optimize).

Every method is one RPC with a deadline: the client's ``Deadlines`` unless the call
passes ``timeout=``. Failures are left as ``grpc.RpcError``, which each caller already
translates for its own audience (the CLI into one line naming the peer, a service into
a domain error); the only other errors are a download whose bytes do not match their
metadata (``glidepath.errors.DataLoss``) or run past a size limit (``ModelTooLarge``).
"""

from glidepath.clients.channel import Caller, Deadlines, Stream, connected
from glidepath.clients.registry import ModelTooLarge, RegistryClient
from glidepath.clients.simulation import SimulationClient
from glidepath.clients.training import TrainingClient

__all__ = [
    "Caller",
    "Deadlines",
    "ModelTooLarge",
    "RegistryClient",
    "SimulationClient",
    "Stream",
    "TrainingClient",
    "connected",
]
