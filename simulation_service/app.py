"""Assemble the simulation service: settings -> work pool, servicer -> ServiceSpec.

Shared by ``python -m simulation_service`` and the tests, so that what is tested is
exactly what runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from glidepath.rpc.server import ServiceSpec
from glidepath.simulation.v1 import simulation_pb2_grpc
from simulation_service.config import DEFAULT_PORT, SimulationServiceSettings
from simulation_service.service import SERVICE_NAME, SimulationServicer
from simulation_service.work import WorkPool


@dataclass
class SimulationApp:
    """The pieces of one simulation service, for the entry point and the tests."""

    spec: ServiceSpec
    pool: WorkPool


def build_app(settings: SimulationServiceSettings) -> SimulationApp:
    """Build the service; the pool's threads stop with the server (``on_stop``)."""
    pool = WorkPool(settings.max_concurrent, settings.max_queued)
    servicer = SimulationServicer(settings, pool)

    def register(server: grpc.Server) -> None:
        simulation_pb2_grpc.add_SimulationServiceServicer_to_server(servicer, server)

    spec = ServiceSpec(
        name="simulation_service",
        default_port=DEFAULT_PORT,
        register=register,
        service_names=(SERVICE_NAME,),
        max_workers=settings.server_threads,
        grace_seconds=settings.grace_seconds,
        on_stop=pool.shutdown,
    )
    return SimulationApp(spec=spec, pool=pool)
