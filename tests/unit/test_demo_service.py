"""The demo classifier service: predictions, bad input, atomic swap, failed loads, follower."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.kernel_client.demo.classifier import (
    ClassifierService,
    ImageError,
    ModelLoadError,
    NoModelError,
)
from jupyter_mlops.kernel_client.demo.follower import DeploymentFollower
from tests.support.demo_models import CIFAR_CLASSES, make_demo_model, png_bytes, tiny_cnn


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    files = {
        "a": root / "a.zip",
        "b": root / "b.zip",
        "gray": root / "gray.zip",
        "mismatch": root / "mismatch.zip",
    }
    make_demo_model(files["a"], seed=1)
    make_demo_model(files["b"], seed=2)
    make_demo_model(files["gray"], seed=3, channels=1, size=8, classes=list("0123456789"))
    make_demo_model(files["mismatch"], module=tiny_cnn(classes=5), classes=CIFAR_CLASSES)
    return files


def _image(fmt: str, mode: str = "RGB", size: tuple[int, int] = (40, 30)) -> bytes:
    from PIL import Image

    image = Image.new(mode, size)
    image.putdata(
        [
            (i * 7) % 256 if mode in ("L", "P") else ((i * 7) % 256,) * len(mode)
            for i in range(size[0] * size[1])
        ]
    )
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_predict_gives_probabilities(model_files: dict[str, Path]) -> None:
    service = ClassifierService()
    active = service.load(model_files["a"])
    result = service.predict(png_bytes())
    assert len(result.probabilities) == 10
    assert sum(result.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert len(result.top) == 5
    assert [p for _, p in result.top] == sorted((p for _, p in result.top), reverse=True)
    assert {name for name, _ in result.top} <= set(CIFAR_CLASSES)
    assert result.sha1 == active.sha1
    assert service.predict(png_bytes(), top_k=3).top == result.top[:3]


@pytest.mark.parametrize(
    ("fmt", "mode"),
    [
        ("JPEG", "RGB"),
        ("PNG", "RGBA"),
        ("PNG", "L"),
        ("GIF", "P"),
        ("BMP", "RGB"),
        ("WEBP", "RGB"),
        ("TIFF", "RGB"),
    ],
)
def test_common_formats_and_modes(model_files: dict[str, Path], fmt: str, mode: str) -> None:
    service = ClassifierService()
    service.load(model_files["a"])
    assert sum(service.predict(_image(fmt, mode)).probabilities) == pytest.approx(1.0, abs=1e-5)


def test_grayscale_model_and_large_image(model_files: dict[str, Path]) -> None:
    service = ClassifierService()
    active = service.load(model_files["gray"])
    assert (active.channels, active.height, active.width) == (1, 8, 8)
    result = service.predict(_image("JPEG", "RGB", size=(3000, 2000)))
    assert len(result.probabilities) == 10
    assert result.top[0][0] in "0123456789"


def test_bad_inputs_give_clear_errors_and_service_keeps_working(
    model_files: dict[str, Path],
) -> None:
    service = ClassifierService(max_image_bytes=200_000, max_image_pixels=4_000_000)
    service.load(model_files["a"])
    good = png_bytes()
    truncated = _image("PNG", size=(200, 200))[:300]
    cases = {
        b"": "empty",
        b"hello, this is a text file\n" * 10: "not an image",
        b"\x00" * 300_000: "MB",
        truncated: "corrupt or truncated",
        _image("PNG", "L", size=(2500, 2000)): "megapixels",
    }
    for data, expected in cases.items():
        with pytest.raises(ImageError, match=expected):
            service.predict(data)
        assert sum(service.predict(good).probabilities) == pytest.approx(1.0, abs=1e-5)


def test_no_model_yet() -> None:
    with pytest.raises(NoModelError, match="No model is deployed yet"):
        ClassifierService().predict(png_bytes())


def test_failed_load_keeps_the_old_model(model_files: dict[str, Path]) -> None:
    service = ClassifierService()
    old = service.load(model_files["a"])
    bad_sources: list[tuple[Any, dict[str, Any], str]] = [
        (b"not a zip at all", {}, "not a model file"),
        (model_files["mismatch"], {}, "gives 5 scores for 10 classes"),
        (model_files["b"], {"expected_sha256": "0" * 64}, "sha256"),
    ]
    for source, kwargs, expected in bad_sources:
        with pytest.raises(ModelLoadError, match=expected):
            service.load(source, **kwargs)
        assert service.active is old
        assert expected in (service.last_error or "")
        assert service.predict(png_bytes()).sha1 == old.sha1
    service.load(model_files["b"])
    assert service.last_error is None


def test_swap_under_concurrent_predictions(model_files: dict[str, Path]) -> None:
    service = ClassifierService()
    image = png_bytes()
    expected = {}
    sha256s = []
    for key in ("a", "b"):
        active = service.load(model_files[key])
        sha256s.append(active.sha256)
        expected[active.sha1] = service.predict(image).probabilities
    assert len(expected) == 2
    stop = threading.Event()
    seen: list[tuple[str, list[float]]] = []
    errors: list[BaseException] = []

    def predictor() -> None:
        while not stop.is_set():
            try:
                result = service.predict(image)
                seen.append((result.sha1, result.probabilities))
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=predictor) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for i in range(30):
            if i % 3 == 0:  # a real reload, not only the cache
                service.load(model_files["a" if i % 2 else "b"])
            else:
                assert service.activate_cached(sha256s[i % 2]) is not None
            time.sleep(0.005)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors
    assert {sha1 for sha1, _ in seen} == set(expected)
    for sha1, probabilities in seen:
        assert probabilities == pytest.approx(expected[sha1], abs=1e-6)


class FakeHub:
    """What the follower needs of HubClient, backed by files."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files
        self.deployment: dict[str, Any] | None = None
        self.downloads: list[str] = []

    def request(self, method: str, path: str, body: Any = None) -> Any:
        assert (method, path) == ("GET", "/deployment")
        return {"deployment": self.deployment}

    def download(self, path: str, dest: Path) -> dict[str, str]:
        model_id = path.split("/")[2]
        self.downloads.append(model_id)
        dest.write_bytes(self.files[model_id].read_bytes())
        return {}

    def websocket(self, path: str, **options: Any) -> Any:
        return None  # the tests drive the follower by hand


def _deployment(model_id: str, number: int, reason: str = "manual") -> dict[str, Any]:
    return {"id": number, "model_id": model_id, "reason": reason, "time": "2026-11-26T00:00:00Z"}


def test_follower_applies_deployments(model_files: dict[str, Path]) -> None:
    hub = FakeHub(
        {"1-0": model_files["a"], "1-1": model_files["b"], "1-2": model_files["mismatch"]}
    )
    service = ClassifierService()
    follower = DeploymentFollower(service, hub)
    events: list[tuple[str, dict[str, Any]]] = []
    follower.add_listener(lambda kind, info: events.append((kind, info)))
    follower.mirror.refresh()  # nothing deployed yet
    follower._apply(None)
    assert service.active is None and not events

    follower._apply(_deployment("1-0", 1, "auto"))
    first = service.active
    assert first is not None and first.model_id == "1-0"
    assert events[-1][0] == "model" and events[-1][1]["previous"] is None

    follower._apply(_deployment("1-2", 2))  # cannot load: keep serving 1-0
    assert service.active is first
    assert events[-1][0] == "error" and "gives 5 scores" in events[-1][1]["message"]

    follower._apply(_deployment("1-1", 3))
    assert service.active is not None and service.active.model_id == "1-1"
    follower._apply({**_deployment("1-0", 4), "sha256": first.sha256})  # rollback: from cache
    assert service.active.sha1 == first.sha1
    assert hub.downloads == ["1-0", "1-2", "1-1"]

    follower._apply(None)  # store cleared
    assert service.active is None
    assert events[-1][1]["active"] is None


def test_follower_thread_coalesces_to_latest(model_files: dict[str, Path]) -> None:
    hub = FakeHub({"1-0": model_files["a"], "1-1": model_files["b"]})
    service = ClassifierService()
    follower = DeploymentFollower(service, hub)
    follower._stop.clear()
    loader = threading.Thread(target=follower._load_loop, daemon=True)
    loader.start()
    try:
        for number in range(5):
            follower.mirror.apply(
                {"type": "deployment", "deployment": _deployment(f"1-{number % 2}", number)}
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            active = service.active
            if active is not None and active.deployment and active.deployment["id"] == 4:
                break
            time.sleep(0.01)
        assert service.active is not None and service.active.model_id == "1-0"
    finally:
        follower._stop.set()
        with follower._cond:
            follower._cond.notify_all()
        loader.join(5)
