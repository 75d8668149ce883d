"""Helpers for the model registry's tests: SB3-shaped zips, upload streams, a tiny PPO."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc

from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import bearer

HASH_A = "0123456789abcdef"
HASH_B = "fedcba9876543210"
TIMEOUT = 10.0


def stored_files(directory: Path) -> list[str]:
    """Every file in a model directory but the index, and but each model's sidecar
    (``rl_model_..ep.json`` beside its zip): models, temp files and orphan sidecars."""
    names = {p.name for p in directory.iterdir() if not p.name.startswith(".index")}
    beside = {n for n in names if n.endswith(".json") and n[: -len(".json")] + ".zip" in names}
    return sorted(names - beside)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_zip(members: Sequence[tuple[str, bytes]], *, deflate: bool = False) -> bytes:
    """A zip with exactly these members (duplicates and hostile names allowed)."""
    buffer = io.BytesIO()
    compression = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
            for name, data in members:
                archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


@functools.cache
def trusted_weights() -> dict[str, Any]:
    """The state dict of a fresh policy of the layout glidepath trains (seeded)."""
    import torch

    from glidepath.rl.model_io import build_policy

    torch.manual_seed(0)
    return {name: t.detach().clone() for name, t in build_policy().state_dict().items()}


def weights_bytes(weights: dict[str, Any]) -> bytes:
    """``policy.pth`` as SB3 writes it: ``torch.save`` of the policy's state dict."""
    import torch

    buffer = io.BytesIO()
    torch.save(weights, buffer)
    return buffer.getvalue()


@functools.cache
def policy_pth(tag: str = "") -> bytes:
    """Weights of the trusted layout, nudged by a seed drawn from ``tag`` (other bytes,
    still a usable policy)."""
    import torch

    seed = int.from_bytes(hashlib.sha256(tag.encode()).digest()[:4], "little")
    generator = torch.Generator().manual_seed(seed)
    weights = {
        name: t + 0.01 * torch.randn(t.shape, generator=generator, dtype=t.dtype)
        for name, t in trusted_weights().items()
    }
    return weights_bytes(weights)


def sb3_members(
    tag: str = "", policy_bytes: int = 0, *, policy: bytes | None = None
) -> list[tuple[str, bytes]]:
    """The members an SB3 save has, with a small JSON ``data`` and real weights of the
    trusted layout (``policy`` replaces them); ``tag`` varies the bytes. When
    ``policy_bytes`` exceeds the weights' size a ``padding.bin`` member brings
    ``policy.pth`` plus padding to that size (large files that are still usable models)."""
    data = json.dumps({"policy_class": {":type:": "<class 'abc.ABCMeta'>"}, "tag": tag})
    weights = policy_pth(tag) if policy is None else policy
    members = [
        ("data", data.encode()),
        ("pytorch_variables.pth", b"PK-placeholder"),
        ("policy.pth", weights),
        ("policy.optimizer.pth", b"optimizer"),
        ("_stable_baselines3_version", b"2.9.2"),
        ("system_info.txt", b"- OS: test"),
    ]
    if policy_bytes > len(weights):
        filler = hashlib.sha256(tag.encode()).digest() * (policy_bytes // 32 + 1)
        members.append(("padding.bin", filler[: policy_bytes - len(weights)]))
    return members


def model_zip(tag: str = "", policy_bytes: int = 0) -> bytes:
    """A usable model of the trusted layout (an SB3 save's members, real weights)."""
    return raw_zip(sb3_members(tag, policy_bytes))


# -- models a consumer cannot use -------------------------------------------------------


def other_layout_zip(net_arch: tuple[int, ...] = (32, 32)) -> bytes:
    """A valid save of the same spaces with another network size."""
    import torch

    from glidepath.rl.model_io import build_policy
    from glidepath.rl.recipe import Recipe

    torch.manual_seed(1)
    policy = build_policy(Recipe(net_arch=net_arch))
    return raw_zip(sb3_members("other layout", policy=weights_bytes(policy.state_dict())))


def nan_weights_zip() -> bytes:
    """The trusted layout with one NaN in the action head."""
    weights = {name: t.clone() for name, t in trusted_weights().items()}
    weights["action_net.weight"][0, 0] = float("nan")
    return raw_zip(sb3_members("nan", policy=weights_bytes(weights)))


def huge_weights_zip() -> bytes:
    """Finite weights of +-3.4e38 (near float32's largest): every tensor is finite, but a
    forward pass overflows to inf - inf = NaN actions."""
    import torch

    weights = {}
    for name, t in trusted_weights().items():
        signs = torch.where(torch.arange(t.numel()) % 2 == 0, 1.0, -1.0).reshape(t.shape)
        weights[name] = (signs * 3.4e38).to(t.dtype)
    return raw_zip(sb3_members("huge", policy=weights_bytes(weights)))


def upload_metadata(
    model_hash: str,
    episodes: int,
    data: bytes,
    *,
    score: float | None = None,
    size_bytes: int | None = None,
    sha256: str | None = None,
) -> registry_pb2.UploadModelMetadata:
    meta = registry_pb2.UploadModelMetadata(
        ref=model_pb2.ModelRef(model_hash=model_hash, episodes=episodes),
        size_bytes=len(data) if size_bytes is None else size_bytes,
        sha256=sha256_hex(data) if sha256 is None else sha256,
        algorithm="PPO",
        library_versions={"stable_baselines3": "2.9.2"},
        canonical_parameters_json=json.dumps({"age": 40}),
        timesteps=1234,
    )
    if score is not None:
        meta.evaluation.score = score
        meta.evaluation.held_out_lives = 100
    return meta


def upload_stream(
    meta: registry_pb2.UploadModelMetadata | None, data: bytes, chunk: int = 64 * 1024
) -> Iterator[registry_pb2.UploadModelRequest]:
    if meta is not None:
        yield registry_pb2.UploadModelRequest(metadata=meta)
    for start in range(0, len(data), chunk):
        yield registry_pb2.UploadModelRequest(chunk=data[start : start + chunk])


def upload(
    stub: registry_pb2_grpc.ModelRegistryStub,
    model_hash: str,
    episodes: int,
    data: bytes,
    *,
    token: str | None = None,
    **meta_options: Any,
) -> registry_pb2.UploadModelResponse:
    meta = upload_metadata(model_hash, episodes, data, **meta_options)
    response: registry_pb2.UploadModelResponse = stub.UploadModel(
        upload_stream(meta, data), timeout=TIMEOUT, metadata=bearer(token)
    )
    return response


def ref(model_hash: str, episodes: int) -> model_pb2.ModelRef:
    return model_pb2.ModelRef(model_hash=model_hash, episodes=episodes)


def download_bytes(
    stub: registry_pb2_grpc.ModelRegistryStub, model_hash: str, episodes: int
) -> tuple[model_pb2.ModelMetadata, bytes]:
    metadata = model_pb2.ModelMetadata()
    body = bytearray()
    for i, message in enumerate(
        stub.DownloadModel(
            registry_pb2.DownloadModelRequest(ref=ref(model_hash, episodes)), timeout=TIMEOUT
        )
    ):
        if i == 0:
            assert message.WhichOneof("content") == "metadata"
            metadata.CopyFrom(message.metadata)
        else:
            assert message.WhichOneof("content") == "chunk"
            body += message.chunk
    return metadata, bytes(body)


def rpc_error(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    """The RpcError a call raises; fails the test if it succeeds."""
    try:
        call(*args, **kwargs)
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the call succeeded but should have failed")


def build_ppo(seed: int) -> Any:
    """The tiny PPO every registry SB3 test uses; the same config builds it again to load."""
    import gymnasium as gym
    from stable_baselines3 import PPO

    return PPO(
        "MlpPolicy",
        gym.make("CartPole-v1"),
        n_steps=64,
        batch_size=64,
        n_epochs=2,
        seed=seed,
        device="cpu",
        policy_kwargs={"net_arch": [32, 32]},
        verbose=0,
    )
