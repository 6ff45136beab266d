"""Images to model inputs: decode any common format safely, resize, normalise (no torch).

An image is decoded with Pillow (size-capped before and after decoding, decompression bombs
refused), flattened onto white when it has transparency, converted to the model's channels,
resized to its input, scaled to [0, 1] and normalised with the model's mean/std, as
torchvision's ``ToTensor`` + ``Normalize`` do in training.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from jupyter_mlops.serverext.errors import InvalidInput

MAX_IMAGE_PIXELS = 50_000_000


class ImageError(InvalidInput):
    """The bytes cannot be classified (empty, not an image, corrupt, too large)."""


def per_channel(values: Any, channels: int, default: float, name: str) -> list[float]:
    """A normalisation value per channel from a model's metadata (one value is broadcast)."""
    if values is None or values == []:
        return [default] * channels
    if isinstance(values, (int, float)):
        return [float(values)] * channels
    numbers = [float(v) for v in values]
    if len(numbers) == 1:
        return numbers * channels
    if len(numbers) != channels:
        raise ValueError(f"normalization {name} has {len(numbers)} values for {channels} channels")
    return numbers


def decode_image(data: bytes, channels: int, size: tuple[int, int]) -> Any:
    """Decode any Pillow-readable image to a ``size`` (W, H) image in L or RGB mode."""
    from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

    if not data:
        raise ImageError("the image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ImageError(
                    f"the image is {image.width}x{image.height} pixels; at most "
                    f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels are accepted"
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
            "this is not an image that can be read (PNG, JPEG, GIF, BMP, TIFF, WebP ...)"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"the image is too large to decode safely: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"the image is corrupt or truncated ({exc})") from None


def image_to_input(data: bytes, channels: int, height: int, width: int, mean: Any, std: Any) -> Any:
    """Image bytes to a normalised float32 array of shape [1, C, H, W]."""
    import numpy as np

    image = decode_image(data, channels, (width, height))
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = array[None, :, :] if channels == 1 else array.transpose(2, 0, 1)
    return ((array - mean) / std)[None].astype(np.float32)
