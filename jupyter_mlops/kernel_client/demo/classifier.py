"""The demo classifier service: the deployed model behind an atomic swap.

``ClassifierService`` holds one immutable ``ActiveModel``; ``load`` builds and smoke-tests a new
one completely before replacing the single reference under a lock, so a prediction in flight
uses the old model or the new one, never a half-loaded one. Images are scaled to [0, 1] then
normalized with the model's mean/std, as torchvision's ``ToTensor`` + ``Normalize`` do in
training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import math
import os
import threading
import time
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

from jupyter_mlops.modelfile import LoadedModel, load_model_file

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000


class DemoError(Exception):
    """Base of the demo's errors; the message is meant for the page."""


class ImageError(DemoError, ValueError):
    """The uploaded file cannot be classified (empty, too big, not an image, corrupt)."""


class NoModelError(DemoError, RuntimeError):
    """No model is deployed yet."""


class ModelLoadError(DemoError, RuntimeError):
    """A new model could not be loaded; the old one stays in service."""


@dataclasses.dataclass(frozen=True)
class ActiveModel:
    """A smoke-tested model with everything a prediction needs, precomputed."""

    loaded: LoadedModel
    sha256: str
    channels: int
    height: int
    width: int
    classes: tuple[str, ...]
    scale: Any  # tensor [C, 1, 1]: 1 / (255 * std)
    shift: Any  # tensor [C, 1, 1]: -mean / std
    deployment: dict[str, Any] | None = None
    loaded_at: float = 0.0

    @property
    def metadata(self) -> dict[str, Any]:
        return self.loaded.metadata

    @property
    def sha1(self) -> str:
        return str(self.loaded.metadata.get("sha1", ""))

    @property
    def model_id(self) -> str | None:
        if self.deployment:
            return self.deployment.get("model_id")
        return self.loaded.metadata.get("trial_id")


@dataclasses.dataclass(frozen=True)
class Prediction:
    """The answer to one image: top classes with probabilities, and which model gave it."""

    top: list[tuple[str, float]]
    probabilities: list[float]
    sha1: str
    model_id: str | None
    elapsed_ms: float


def _per_channel(values: Any, channels: int, default: float, name: str) -> list[float]:
    if values is None or values == []:
        return [default] * channels
    if isinstance(values, (int, float)):
        return [float(values)] * channels
    values = [float(v) for v in values]
    if len(values) == 1:
        return values * channels
    if len(values) != channels:
        raise ModelLoadError(
            f"normalization {name} has {len(values)} values for {channels} channels"
        )
    return values


def prepare_model(loaded: LoadedModel, sha256: str = "") -> ActiveModel:
    """Check a loaded model's metadata and smoke-test it (one forward on a blank input)."""
    import torch

    meta = loaded.metadata
    size = meta.get("input_size")
    if not (isinstance(size, list) and len(size) == 3 and all(isinstance(v, int) for v in size)):
        raise ModelLoadError(f"input_size must be [C, H, W], got {size!r}")
    channels, height, width = size
    if channels not in (1, 3):
        raise ModelLoadError(
            f"only 1 (grayscale) or 3 (RGB) input channels are supported, not {channels}"
        )
    norm = meta.get("normalization") or {}
    mean = _per_channel(norm.get("mean"), channels, 0.0, "mean")
    std = _per_channel(norm.get("std"), channels, 1.0, "std")
    if any(s == 0 for s in std):
        raise ModelLoadError("normalization std contains a zero")
    scale = torch.tensor([1.0 / (255.0 * s) for s in std]).view(channels, 1, 1)
    shift = torch.tensor([-m / s for m, s in zip(mean, std, strict=True)]).view(channels, 1, 1)
    try:
        with torch.no_grad():
            out = loaded.program(torch.zeros(1, channels, height, width))
    except Exception as exc:
        raise ModelLoadError(f"the smoke test failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 1:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelLoadError(f"the smoke test gave {shape}, expected scores of shape [1, classes]")
    if not torch.isfinite(out).all():
        raise ModelLoadError("the smoke test gave non-finite scores")
    classes = [str(c) for c in meta.get("classes") or []]
    if classes and len(classes) != out.shape[1]:
        raise ModelLoadError(f"the model gives {out.shape[1]} scores for {len(classes)} classes")
    classes = classes or [f"class {i}" for i in range(out.shape[1])]
    return ActiveModel(loaded, sha256, channels, height, width, tuple(classes), scale, shift)


def decode_image(
    data: bytes, channels: int, size: tuple[int, int], max_bytes: int, max_pixels: int
) -> Any:
    """Decode any PIL-readable image to a ``size`` (W, H) image in L or RGB mode."""
    from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

    if not data:
        raise ImageError("The file is empty.")
    if len(data) > max_bytes:
        raise ImageError(
            f"The file is {len(data) / 2**20:.1f} MB; images up to {max_bytes / 2**20:.0f} MB "
            "are accepted."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            if image.width * image.height > max_pixels:
                raise ImageError(
                    f"The image is {image.width}x{image.height} pixels; at most "
                    f"{max_pixels / 1e6:.0f} megapixels are accepted."
                )
            if isinstance(image, ImageFile.ImageFile):  # JPEG: decode at a reduced scale
                image.draft("L" if channels == 1 else "RGB", (size[0] * 2, size[1] * 2))
            image = ImageOps.exif_transpose(image) or image
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                rgba = image.convert("RGBA")
                image = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                image.alpha_composite(rgba)
            image = image.convert("L" if channels == 1 else "RGB")
            return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(
            "This file is not an image that can be read (PNG, JPEG, GIF, BMP, TIFF, WebP ...)."
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"The image is too large to decode safely: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"The image is corrupt or truncated ({exc}).") from None


class ClassifierService:
    """Classify images with the current model; swap models atomically."""

    def __init__(
        self,
        *,
        max_image_bytes: int = MAX_IMAGE_BYTES,
        max_image_pixels: int = MAX_IMAGE_PIXELS,
        cache_size: int = 4,
        top_k: int = 5,
    ) -> None:
        self.max_image_bytes = max_image_bytes
        self.max_image_pixels = max_image_pixels
        self.top_k = top_k
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._active: ActiveModel | None = None
        self._cache: OrderedDict[str, ActiveModel] = OrderedDict()
        self._cache_size = cache_size

    @property
    def active(self) -> ActiveModel | None:
        """The model in service now (one atomic read)."""
        return self._active

    def _swap(self, new: ActiveModel | None) -> ActiveModel | None:
        with self._lock:
            old, self._active = self._active, new
            if new is not None and new.sha256 and self._cache_size:
                self._cache[new.sha256] = new
                self._cache.move_to_end(new.sha256)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return old

    def load(
        self,
        source: bytes | str | os.PathLike[str],
        *,
        deployment: dict[str, Any] | None = None,
        expected_sha256: str | None = None,
    ) -> ActiveModel:
        """Load, smoke-test and swap in a model file; on failure keep the old one and raise."""
        started = time.perf_counter()
        try:
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
            sha256 = hashlib.sha256(data).hexdigest()
            if expected_sha256 and sha256 != expected_sha256:
                raise ModelLoadError(
                    f"the file's sha256 is {sha256[:12]}, expected {expected_sha256[:12]}"
                )
            active = prepare_model(load_model_file(data), sha256)
        except ModelLoadError as exc:
            self.last_error = str(exc)
            raise
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            raise ModelLoadError(self.last_error) from exc
        active = dataclasses.replace(active, deployment=deployment, loaded_at=time.time())
        self._swap(active)
        self.last_error = None
        log.info(
            "model %s in service (%.0f ms)", active.sha1[:12], 1e3 * (time.perf_counter() - started)
        )
        return active

    def activate_cached(
        self, sha256: str, deployment: dict[str, Any] | None = None
    ) -> ActiveModel | None:
        """Swap in a model loaded before (a rollback) without reloading it; None if not cached."""
        with self._lock:
            cached = self._cache.get(sha256)
        if cached is None:
            return None
        active = dataclasses.replace(cached, deployment=deployment, loaded_at=time.time())
        self._swap(active)
        self.last_error = None
        return active

    def set_deployment(self, deployment: dict[str, Any] | None) -> None:
        """Update the deployment record of the model in service (same file, new row)."""
        with self._lock:
            if self._active is not None:
                self._active = dataclasses.replace(self._active, deployment=deployment)

    def clear(self) -> None:
        """No model deployed: predictions raise NoModelError."""
        self._swap(None)

    def preprocess(self, image_bytes: bytes, model: ActiveModel) -> Any:
        """Image bytes to a normalized [1, C, H, W] float tensor for ``model``."""
        import numpy as np
        import torch

        image = decode_image(
            image_bytes,
            model.channels,
            (model.width, model.height),
            self.max_image_bytes,
            self.max_image_pixels,
        )
        array = np.asarray(image, dtype=np.float32)
        tensor = torch.from_numpy(array)
        tensor = tensor.unsqueeze(0) if model.channels == 1 else tensor.permute(2, 0, 1)
        return (tensor * model.scale + model.shift).unsqueeze(0)

    def predict(self, image_bytes: bytes, top_k: int | None = None) -> Prediction:
        """Classify one image; raise ImageError for bad input, NoModelError without a model."""
        import torch

        started = time.perf_counter()
        model = self._active  # one read: this request uses this model to the end
        if model is None:
            raise NoModelError("No model is deployed yet.")
        batch = self.preprocess(image_bytes, model)
        with torch.no_grad():
            scores = model.loaded.program(batch)
        probabilities = torch.softmax(scores[0].float(), dim=0)
        k = min(top_k or self.top_k, probabilities.shape[0])
        values, indices = torch.topk(probabilities, k)
        probs = probabilities.tolist()
        top = [
            (model.classes[i], float(v))
            for v, i in zip(values.tolist(), indices.tolist(), strict=True)
        ]
        if not all(math.isfinite(p) for _, p in top):
            raise ImageError("The model gave no usable scores for this image.")
        elapsed = 1e3 * (time.perf_counter() - started)
        return Prediction(top, probs, model.sha1, model.model_id, elapsed)
