"""``GET /health``: the web process answers (the compose and ``glidepath up`` check).

It says nothing about the three services: each has its own gRPC health check, and a
page that needs one that is down says so itself.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "SERVING"}
