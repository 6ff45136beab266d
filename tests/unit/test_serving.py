"""The model server: predictions as training's preprocessing gives them, safe swaps."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from jupyter_mlops.modelfile import save_model_file
from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.errors import InvalidInput
from jupyter_mlops.serverext.images import ImageError
from jupyter_mlops.serverext.serving import ModelServer, NoModelServed, load_served_model
from tests.support.demo_models import CIFAR_CLASSES, make_demo_model, png_bytes, tiny_cnn
from tests.support.models import write_variant

LIMIT = 1 << 24


class NonFiniteOnZeros(torch.nn.Module):
    """Finite on the export's example (ones); -inf on the smoke test's zeros."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x.mean(dim=(1, 2, 3)))[:, None].expand(-1, 10) * 1.0


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("serving")
    make_demo_model(root / "a", seed=1)
    make_demo_model(root / "b", seed=2)
    make_demo_model(root / "gray", seed=3, channels=1, size=8, classes=list("0123456789"))
    write_variant(root / "mismatch", (root / "a").read_bytes(), classes=CIFAR_CLASSES[:5])
    save_model_file(
        NonFiniteOnZeros(), root / "nan", example_input=torch.ones(2, 3, 16, 16), classes=[]
    )
    return {p.name: p.read_bytes() for p in root.iterdir()}


def _store(blobs: BlobStore, data: bytes, number: int = 1) -> dict[str, Any]:
    sha = hashlib.sha256(data).hexdigest()
    blobs.path(sha).write_bytes(data)
    return {"id": number, "model_id": f"1-{number}", "sha256": sha, "reason": "manual"}


def _reference(module: torch.nn.Module, image: Image.Image, channels: int) -> np.ndarray:
    """torchvision's ToTensor + Normalize, as in training, then the torch module's softmax."""
    from torchvision import transforms

    if channels == 1:
        normalize = transforms.Normalize([0.5], [0.25])
    else:
        normalize = transforms.Normalize([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])
    tensor = normalize(transforms.ToTensor()(image))[None]
    with torch.no_grad():
        return torch.softmax(module.eval()(tensor), dim=1)[0].numpy()


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _noise(mode: str, size: tuple[int, int], seed: int = 0) -> Image.Image:
    bands = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], bands), np.uint8)
    return Image.fromarray(pixels[:, :, 0] if bands == 1 else pixels, mode)


def _on_white(image: Image.Image) -> Image.Image:
    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    background.alpha_composite(image)
    return background.convert("RGB")


def test_image_predictions_match_torch_preprocessing(tmp_path: Path, files) -> None:
    rgb, rgba = _noise("RGB", (16, 16), 1), _noise("RGBA", (16, 16), 2)
    jpeg = _encode(rgb, "JPEG")
    cases = [  # (model, image bytes, what training would have seen)
        ("a", _encode(rgb, "PNG"), rgb),
        ("a", jpeg, Image.open(io.BytesIO(jpeg)).convert("RGB")),
        ("a", _encode(rgba, "PNG"), _on_white(rgba)),
        ("a", _encode(_noise("L", (16, 16), 3), "PNG"), _noise("L", (16, 16), 3).convert("RGB")),
        ("gray", _encode(_noise("RGB", (8, 8), 4), "PNG"), _noise("RGB", (8, 8), 4).convert("L")),
    ]
    modules = {"a": (tiny_cnn(3, 16, 10, seed=1), 3), "gray": (tiny_cnn(1, 8, 10, seed=3), 1)}

    async def scenario() -> None:
        blobs = BlobStore(tmp_path / "blobs")
        for name, data, seen in cases:
            server = ModelServer(blobs, max_graph_bytes=LIMIT)
            await server.follow(_store(blobs, files[name]))
            answer = await server.predict_image(data, top_k=3)
            server.close()
            module, channels = modules[name]
            expected = _reference(module, seen, channels)
            got = np.asarray(answer["predictions"][0]["probabilities"])
            np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=name)
            top = answer["predictions"][0]["top"]
            best = sorted(expected)[::-1][:3]
            assert [entry["probability"] for entry in top] == pytest.approx(best, abs=1e-5)
            assert answer["sha1"] == server.active.metadata["sha1"]

    asyncio.run(scenario())


def test_common_formats_and_modes_are_classified(tmp_path: Path, files) -> None:
    images = [_encode(_noise("RGB", (40, 30)).convert(mode), fmt) for fmt, mode in (
        ("GIF", "P"), ("BMP", "RGB"), ("WEBP", "RGB"), ("TIFF", "RGBA"), ("PNG", "LA"),
    )]  # fmt: skip

    async def scenario() -> None:
        blobs = BlobStore(tmp_path / "blobs")
        server = ModelServer(blobs, max_graph_bytes=LIMIT)
        await server.follow(_store(blobs, files["a"]))
        for data in images:
            answer = await server.predict_image(data)
            assert sum(answer["predictions"][0]["probabilities"]) == pytest.approx(1, abs=1e-5)
        server.close()

    asyncio.run(scenario())


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header says width x height (its pixels are never there)."""
    data = bytearray(png_bytes(4, 4))
    assert data[12:16] == b"IHDR"
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


def test_bad_images_give_clear_errors_and_serving_goes_on(tmp_path: Path, files) -> None:
    truncated = _encode(_noise("RGB", (200, 200)), "PNG")[:3000]
    cases = {
        b"": "empty",
        b"hello, this is a text file\n" * 10: "not an image",
        truncated: "corrupt or truncated",
        _png_claiming(8_000, 7_500): "megapixels",  # 60 M: over the server's cap
        _png_claiming(20_000, 20_000): "too large to decode safely",  # a Pillow bomb
    }

    async def scenario() -> None:
        blobs = BlobStore(tmp_path / "blobs")
        server = ModelServer(blobs, max_graph_bytes=LIMIT)
        with pytest.raises(NoModelServed, match="No model is deployed yet"):
            await server.predict_image(png_bytes())
        await server.follow(_store(blobs, files["gray"]))
        for data, expected in cases.items():
            with pytest.raises(ImageError, match=expected):
                await server.predict_image(data)
            answer = await server.predict_image(_encode(_noise("RGB", (3000, 2000)), "JPEG"))
            assert sum(answer["predictions"][0]["probabilities"]) == pytest.approx(1, abs=1e-5)
            assert answer["predictions"][0]["top"][0]["class"] in "0123456789"
        server.close()

    asyncio.run(scenario())


def test_tensor_predictions_shapes_and_errors(tmp_path: Path, files) -> None:
    module = tiny_cnn(3, 16, 10, seed=1).eval()
    batch = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(module(torch.from_numpy(batch)), dim=1).numpy()

    async def scenario() -> None:
        blobs = BlobStore(tmp_path / "blobs")
        server = ModelServer(blobs, max_graph_bytes=LIMIT)
        await server.follow(_store(blobs, files["a"]))
        one = await server.predict_tensor(batch[0].tolist())
        assert len(one["predictions"]) == 1 and len(one["predictions"][0]["top"]) == 5
        three = await server.predict_tensor(batch.tolist(), top_k=100)
        got = np.asarray([p["probabilities"] for p in three["predictions"]])
        np.testing.assert_allclose(got, expected, atol=1e-5)
        assert len(three["predictions"][0]["top"]) == 10
        bad = {
            "shape [1, 2, 16, 16]": np.zeros((2, 16, 16)).tolist(),
            "shape [1, 3, 8, 8]": np.zeros((1, 3, 8, 8)).tolist(),
            "nested list of numbers": [[[1.0, 2.0], [3.0]]],
            "1 to 64": np.zeros((65, 3, 16, 16)).tolist(),
            "finite": np.full((3, 16, 16), np.nan).tolist(),
        }
        for expected_text, inputs in bad.items():
            with pytest.raises(InvalidInput, match=re.escape(expected_text)):
                await server.predict_tensor(inputs)
        server.close()

    asyncio.run(scenario())


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_model_that_fails_to_load_leaves_the_old_one_serving(tmp_path: Path, files) -> None:
    changes: list[dict[str, Any]] = []

    async def scenario() -> None:
        blobs = BlobStore(tmp_path / "blobs")
        server = ModelServer(blobs, max_graph_bytes=LIMIT, on_change=changes.append)
        await server.follow(_store(blobs, files["a"], 1))
        old_sha1 = server.active.metadata["sha1"]
        assert changes[-1]["model"]["sha1"] == old_sha1 and changes[-1]["last_error"] is None
        damaged = _store(blobs, files["b"], 2)
        _flip_one_byte(blobs.path(damaged["sha256"]))
        failures = [
            (damaged, "damaged"),
            (_store(blobs, files["nan"], 3), "non-finite"),
            (_store(blobs, files["mismatch"], 4), "10 scores for 5 classes"),
        ]
        for deployment, reason in failures:
            count = len(changes)
            await server.follow(deployment)
            assert reason in server.last_error and deployment["model_id"] in server.last_error
            assert len(changes) == count + 1 and reason in changes[-1]["last_error"]
            assert changes[-1]["model"]["sha1"] == old_sha1  # still serving the old model
            assert (await server.predict_image(png_bytes()))["sha1"] == old_sha1
        await server.follow(_store(blobs, files["b"], 5))
        assert server.last_error is None and server.active.deployment["model_id"] == "1-5"
        await server.follow(None)  # the store was cleared
        assert changes[-1] == {"model": None, "last_error": None}
        with pytest.raises(NoModelServed, match="No model is deployed yet"):
            await server.predict_image(png_bytes())
        server.close()

    asyncio.run(scenario())


def test_the_newest_deployment_wins(tmp_path: Path, files) -> None:
    async def scenario() -> None:
        blobs = BlobStore(tmp_path / "blobs")
        server = ModelServer(blobs, max_graph_bytes=LIMIT)
        a, b = _store(blobs, files["a"], 1), _store(blobs, files["b"], 2)
        await asyncio.gather(server.follow(a), server.follow(b))
        assert server.active.sha256 == b["sha256"]
        failing = _store(blobs, files["nan"], 3)
        await asyncio.gather(server.follow(failing), server.follow(a))
        assert server.active.sha256 == a["sha256"] and server.last_error is None
        server.close()

    asyncio.run(scenario())


def test_predictions_during_swaps_come_from_the_old_or_the_new_model(tmp_path: Path, files) -> None:
    image = png_bytes()

    async def scenario() -> tuple[list, list]:
        blobs = BlobStore(tmp_path / "blobs")
        server = ModelServer(blobs, max_graph_bytes=LIMIT, threads=4, cache_size=1)
        deployments = [_store(blobs, files["a"], 1), _store(blobs, files["b"], 2)]
        expected = {}
        for deployment in deployments:
            await server.follow(deployment)
            answer = await server.predict_image(image)
            expected[answer["sha1"]] = answer["predictions"][0]["probabilities"]
        assert len(expected) == 2
        answers: list[dict] = []
        failures: list[BaseException] = []
        stop = asyncio.Event()

        async def client() -> None:
            while not stop.is_set():
                try:
                    answers.append(await server.predict_image(image))
                except Exception as exc:
                    failures.append(exc)

        clients = [asyncio.ensure_future(client()) for _ in range(8)]
        for swap in range(20):  # each swap a real reload: the cache holds one model
            deployment = deployments[swap % 2]
            await server.follow(deployment)
            assert server.active.sha256 == deployment["sha256"]
            await asyncio.sleep(0)
        stop.set()
        await asyncio.gather(*clients)
        server.close()
        for answer in answers:
            probabilities = answer["predictions"][0]["probabilities"]
            assert probabilities == pytest.approx(expected[answer["sha1"]], abs=1e-6)
        return answers, failures

    answers, failures = asyncio.run(scenario())
    assert failures == []
    assert answers


def test_a_served_model_refuses_a_damaged_copy(files) -> None:
    data = files["a"]
    good = load_served_model(data, hashlib.sha256(data).hexdigest(), LIMIT)
    assert good.classes == tuple(CIFAR_CLASSES) and (good.channels, good.height) == (3, 16)
    with pytest.raises(InvalidInput, match="damaged"):
        load_served_model(
            data[:-1] + bytes([data[-1] ^ 1]), hashlib.sha256(data).hexdigest(), LIMIT
        )
