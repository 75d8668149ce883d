"""Helpers for the model registry's tests: SB3-shaped zips, upload streams, a tiny PPO."""

from __future__ import annotations

import hashlib
import io
import json
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

import grpc

from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import bearer

HASH_A = "0123456789abcdef"
HASH_B = "fedcba9876543210"
TIMEOUT = 10.0


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


def sb3_members(tag: str = "", policy_bytes: int = 2048) -> list[tuple[str, bytes]]:
    """The members an SB3 save has, with a small JSON ``data``; ``tag`` varies the bytes."""
    data = json.dumps({"policy_class": {":type:": "<class 'abc.ABCMeta'>"}, "tag": tag})
    policy = (hashlib.sha256(tag.encode()).digest() * (policy_bytes // 32 + 1))[:policy_bytes]
    return [
        ("data", data.encode()),
        ("pytorch_variables.pth", b"PK-placeholder"),
        ("policy.pth", policy),
        ("policy.optimizer.pth", b"optimizer"),
        ("_stable_baselines3_version", b"2.9.2"),
        ("system_info.txt", b"- OS: test"),
    ]


def model_zip(tag: str = "", policy_bytes: int = 2048) -> bytes:
    return raw_zip(sb3_members(tag, policy_bytes))


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
