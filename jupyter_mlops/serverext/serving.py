"""The deployed model, served from the server process by onnxruntime and swapped atomically.

:class:`ModelServer` holds one immutable :class:`ServedModel`. Following a deployment loads
the model file's ONNX graph in a small thread pool (checked, smoke-tested), then replaces the
single reference: a prediction reads the reference once, so requests in flight finish on the
old model and new ones use the new one. A model that fails to load is not swapped in; the
reason is kept and reported. onnxruntime releases the GIL, so predictions run in the pool and
the tornado loop never blocks. Recently served models stay cached, so a rollback is instant.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_mlops.modelfile import (
    ModelFileError,
    check_graph,
    load_session,
    read_graph,
    read_metadata,
)
from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.errors import InvalidInput, MLOpsError
from jupyter_mlops.serverext.images import image_to_input, per_channel

MAX_BATCH = 64


class NoModelServed(MLOpsError):
    """Nothing is deployed (or the deployed model could not be loaded)."""

    status = 503


@dataclass(frozen=True)
class ServedModel:
    """A loaded, smoke-tested model with what a prediction needs, precomputed."""

    session: Any
    input_name: str
    channels: int
    height: int
    width: int
    classes: tuple[str, ...]
    mean: Any  # float32 [C, 1, 1]
    std: Any
    metadata: dict[str, Any]
    sha256: str
    deployment: dict[str, Any] = field(default_factory=dict)
    loaded_at: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "model_id": self.deployment.get("model_id"),
            "deployment_id": self.deployment.get("id"),
            "sha1": self.metadata.get("sha1"),
            "sha256": self.sha256,
            "input": {
                "name": self.input_name,
                "shape": ["batch", self.channels, self.height, self.width],
                "dtype": "float32",
                "image": f"{self.width}x{self.height} "
                + ("grayscale" if self.channels == 1 else "RGB"),
            },
            "normalization": self.metadata.get("normalization") or {},
            "classes": list(self.classes),
            "loaded_at": self.loaded_at,
        }


def load_served_model(data: bytes, sha256: str, max_graph_bytes: int) -> ServedModel:
    """Check, load and smoke-test a model file's bytes (runs in the pool)."""
    import io

    import numpy as np

    if hashlib.sha256(data).hexdigest() != sha256:
        raise InvalidInput(
            f"the stored file does not match its sha256 {sha256[:12]}: it is damaged"
        )
    metadata = read_metadata(io.BytesIO(data))
    graph = read_graph(io.BytesIO(data), max_graph_bytes)
    check_graph(graph)
    channels, height, width = metadata["input_size"]
    if channels not in (1, 3):
        raise InvalidInput(
            f"only 1 (grayscale) or 3 (RGB) input channels are served, not {channels}"
        )
    norm = metadata.get("normalization") or {}
    mean = np.asarray(per_channel(norm.get("mean"), channels, 0.0, "mean"), np.float32)
    std = np.asarray(per_channel(norm.get("std"), channels, 1.0, "std"), np.float32)
    if not np.all(std != 0):
        raise InvalidInput("normalization std contains a zero")
    session = load_session(graph)
    name = session.get_inputs()[0].name
    scores = session.run(None, {name: np.zeros((1, channels, height, width), np.float32)})[0]
    if scores.ndim != 2 or scores.shape[0] != 1:
        raise InvalidInput(f"the smoke test gave shape {scores.shape}, expected [1, classes]")
    if not np.isfinite(scores).all():
        raise InvalidInput("the smoke test gave non-finite scores")
    classes = [str(c) for c in metadata.get("classes") or []] or [
        f"class {i}" for i in range(scores.shape[1])
    ]
    if len(classes) != scores.shape[1]:
        raise InvalidInput(f"the model gives {scores.shape[1]} scores for {len(classes)} classes")
    return ServedModel(
        session, name, channels, height, width, tuple(classes),
        mean.reshape(channels, 1, 1), std.reshape(channels, 1, 1), metadata, sha256,
    )  # fmt: skip


def validate_model_file(path: Path, max_bytes: int) -> dict[str, Any]:
    """Check an uploaded model file as the server would serve it; return its metadata.

    Runs in the serving pool. Refuses legacy programs, anything that is not a checked ONNX
    graph of standard operators with weights inside, and graphs that fail the smoke test.
    """
    data = path.read_bytes()
    try:
        served = load_served_model(data, hashlib.sha256(data).hexdigest(), max_bytes)
    except ModelFileError as exc:
        raise InvalidInput(f"not a model file: {exc}") from None
    except InvalidInput:
        raise
    except Exception as exc:  # onnxruntime refused the graph
        raise InvalidInput(f"the ONNX graph cannot be served: {exc}") from None
    return served.metadata


def _softmax(scores: Any) -> Any:
    import numpy as np

    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class ModelServer:
    """Serves the deployed model; ``follow`` a deployment to swap it in."""

    def __init__(
        self,
        blobs: BlobStore,
        *,
        max_graph_bytes: int,
        threads: int = 2,
        cache_size: int = 4,
        on_change: Callable[[dict[str, Any]], None] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.blobs = blobs
        self.max_graph_bytes = max_graph_bytes
        self.on_change = on_change
        self.log = log or logging.getLogger(__name__)
        self.active: ServedModel | None = None
        self.last_error: str | None = None
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="mlops-serving")
        self._cache: OrderedDict[str, ServedModel] = OrderedDict()
        self._cache_size = cache_size
        self._wanted = 0  # the generation of the newest deployment asked for
        self.pending: asyncio.Task[None] | None = None

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def describe(self) -> dict[str, Any]:
        active = self.active
        return {"model": active.describe() if active else None, "last_error": self.last_error}

    def follow(self, deployment: dict[str, Any] | None) -> asyncio.Task[None]:
        """Start serving what ``deployment`` names (None: nothing), in the background.

        Call it on the server's event loop. The old model keeps serving until the new one is
        loaded and checked, and stays if that fails.
        """
        self._wanted += 1
        self.pending = asyncio.ensure_future(self._follow(deployment, self._wanted))
        return self.pending

    async def settle(self, timeout: float = 60.0) -> None:
        """Wait until the newest ``follow`` has finished (loaded, or failed and reported)."""
        pending = self.pending
        if pending is not None and not pending.done():
            await asyncio.wait_for(asyncio.shield(pending), timeout)

    async def _follow(self, deployment: dict[str, Any] | None, generation: int) -> None:
        if deployment is None:
            self.active, self.last_error = None, None
            self._changed()
            return
        sha256 = str(deployment.get("sha256") or "")
        try:
            model = self._cache.get(sha256)
            if model is None:
                data = await asyncio.get_running_loop().run_in_executor(
                    self.pool, self.blobs.path(sha256).read_bytes
                )
                model = await asyncio.get_running_loop().run_in_executor(
                    self.pool, load_served_model, data, sha256, self.max_graph_bytes
                )
        except Exception as exc:
            if generation == self._wanted:
                self.last_error = (
                    f"model {deployment.get('model_id')} was not served: "
                    f"{getattr(exc, 'message', None) or exc}"
                )
                self.log.warning("jupyter_mlops: %s", self.last_error)
                self._changed()
            return
        if generation != self._wanted:
            return  # a newer deployment came meanwhile: it decides
        self._cache[sha256] = model
        self._cache.move_to_end(sha256)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        self.active = dataclasses.replace(model, deployment=dict(deployment), loaded_at=time.time())
        self.last_error = None
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.describe())

    def _current(self) -> ServedModel:
        model = self.active  # one read: this request uses this model to the end
        if model is None:
            if self.last_error:
                raise NoModelServed(f"The deployed model is not served: {self.last_error}")
            raise NoModelServed("No model is deployed yet: deploy one first")
        return model

    async def predict_image(self, data: bytes, top_k: int = 5) -> dict[str, Any]:
        """Classify one image (any common format)."""
        model = self._current()

        def run() -> Any:
            batch = image_to_input(
                data, model.channels, model.height, model.width, model.mean, model.std
            )
            return model.session.run(None, {model.input_name: batch})[0]

        return await self._answer(model, run, top_k)

    async def predict_tensor(self, inputs: Any, top_k: int = 5) -> dict[str, Any]:
        """Classify an already normalised tensor: [C, H, W] or [N, C, H, W] nested lists."""
        import numpy as np

        model = self._current()
        try:
            array = np.asarray(inputs, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"inputs must be a nested list of numbers: {exc}") from None
        if array.ndim == 3:
            array = array[None]
        expected = (model.channels, model.height, model.width)
        if array.ndim != 4 or tuple(array.shape[1:]) != expected:
            raise InvalidInput(
                f"inputs have shape {list(array.shape)}; the served model takes [C, H, W] = "
                f"{list(expected)} or [N, C, H, W]"
            )
        if not 1 <= array.shape[0] <= MAX_BATCH:
            raise InvalidInput(f"a batch holds 1 to {MAX_BATCH} inputs, not {array.shape[0]}")
        if not np.isfinite(array).all():
            raise InvalidInput("inputs must be finite numbers")
        return await self._answer(
            model, lambda: model.session.run(None, {model.input_name: array})[0], top_k
        )

    async def _answer(self, model: ServedModel, run: Callable[[], Any], top_k: int) -> dict:
        started = time.perf_counter()
        scores = await asyncio.get_running_loop().run_in_executor(self.pool, run)
        probabilities = _softmax(scores.astype("float64"))
        k = max(1, min(top_k, len(model.classes)))
        predictions = []
        for row in probabilities:
            order = row.argsort()[::-1][:k]
            predictions.append(
                {
                    "top": [
                        {"class": model.classes[i], "probability": float(row[i])} for i in order
                    ],
                    "probabilities": [float(p) for p in row],
                }
            )
        return {
            "model_id": model.deployment.get("model_id"),
            "deployment_id": model.deployment.get("id"),
            "sha1": model.metadata.get("sha1"),
            "predictions": predictions,
            "elapsed_ms": 1e3 * (time.perf_counter() - started),
        }
