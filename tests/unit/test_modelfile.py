"""The model file: an ONNX graph plus metadata, read with caps, checked, never a program."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper

from jupyter_mlops.modelfile import (
    FORMAT_VERSION,
    GRAPH_NAME,
    MAX_METADATA_BYTES,
    METADATA_NAME,
    LegacyModelFile,
    ModelExportError,
    ModelFileError,
    check_graph,
    load_session,
    parameter_sha1,
    read_graph,
    read_metadata,
    save_model_file,
)
from tests.support.models import tiny_classifier
from tests.support.payloads import legacy_model_file

HUGE = 128 << 20  # bytes of zeros: a member that deflates to about 128 KiB


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path, dict]:
    module = tiny_classifier(3, 10, seed=5)
    path = tmp_path_factory.mktemp("modelfile") / "model.zip"
    metadata = save_model_file(
        module,
        path,
        example_input=torch.rand(2, 3, 16, 16),
        classes=[f"c{i}" for i in range(10)],
        normalization={"mean": [0.5] * 3, "std": [0.25] * 3},
        metrics={"test_accuracy": 0.75},
    )
    return module, path, metadata


def _torch_scores(module: torch.nn.Module, batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module.eval()(torch.from_numpy(batch)).numpy()


def test_saved_file_reads_back_and_computes_what_torch_does(saved) -> None:
    module, path, written = saved
    metadata = read_metadata(path)
    assert metadata["format_version"] == FORMAT_VERSION and metadata["program"] == "onnx"
    assert metadata["input_size"] == [3, 16, 16] and metadata["classes"][3] == "c3"
    assert metadata["sha1"] == parameter_sha1(module) == written["sha1"]
    assert metadata["metrics"] == {"test_accuracy": 0.75}
    assert set(zipfile.ZipFile(path).namelist()) == {METADATA_NAME, GRAPH_NAME}
    graph = read_graph(path, 1 << 20)
    check_graph(graph)
    session = load_session(graph)
    batch = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32)
    got = session.run(None, {session.get_inputs()[0].name: batch})[0]
    np.testing.assert_allclose(got, _torch_scores(module, batch), atol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 5])
def test_the_batch_dimension_is_dynamic(saved, batch_size: int) -> None:
    module, path, _ = saved
    session = load_session(read_graph(path, 1 << 20))
    batch = np.random.default_rng(batch_size).random((batch_size, 3, 16, 16), np.float32)
    got = session.run(None, {session.get_inputs()[0].name: batch})[0]
    assert got.shape == (batch_size, 10)
    np.testing.assert_allclose(got, _torch_scores(module, batch), atol=1e-5)


def test_a_legacy_file_is_recognised_and_its_program_never_read(tmp_path, monkeypatch) -> None:
    canary = tmp_path / "canary"
    path = tmp_path / "legacy.zip"
    path.write_bytes(legacy_model_file(canary))
    opened: list[str] = []
    original = zipfile.ZipFile.open

    def recording_open(self, name, *args, **kwargs):
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", recording_open)
    with pytest.raises(LegacyModelFile, match="legacy") as error:
        read_metadata(path)
    assert error.value.detail["program"] == "torch.export"  # listed with its metadata
    assert isinstance(error.value, ModelFileError)
    assert opened == [METADATA_NAME]
    with pytest.raises(LegacyModelFile):
        read_metadata(io.BytesIO(legacy_model_file(canary, program="torchscript")))
    assert not canary.exists()


def _bomb(path: Path, name: str, other: dict[str, bytes]) -> None:
    """A zip with ``name`` = HUGE bytes of zeros (streamed: never all in memory)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in other.items():
            archive.writestr(member, data)
        with archive.open(name, "w", force_zip64=True) as out:
            chunk = bytes(1 << 20)
            for _ in range(HUGE >> 20):
                out.write(chunk)


def _understate_size(path: Path, name: str, claimed: int) -> None:
    """Make the headers of member ``name`` claim ``claimed`` uncompressed bytes."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if data[start + name_at : start + name_at + len(encoded)] == encoded:
                data[start + size_at : start + size_at + 4] = struct.pack("<I", claimed)
            start += 4
    path.write_bytes(bytes(data))


def _peak_while(call) -> tuple[int, str]:
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as error:
            call()
        return tracemalloc.get_traced_memory()[1], str(error.value)
    finally:
        tracemalloc.stop()


def test_huge_metadata_and_zip_bombs_are_refused_without_reading_them(tmp_path) -> None:
    big = tmp_path / "big-metadata.zip"
    with zipfile.ZipFile(big, "w") as archive:
        archive.writestr(METADATA_NAME, json.dumps({"pad": "x" * MAX_METADATA_BYTES}))
        archive.writestr(GRAPH_NAME, b"")
    with pytest.raises(ModelFileError, match="at most"):
        read_metadata(big)

    bomb = tmp_path / "bomb.zip"
    _bomb(bomb, METADATA_NAME, {GRAPH_NAME: b""})
    assert bomb.stat().st_size < 2 << 20
    peak, message = _peak_while(lambda: read_metadata(bomb))
    assert peak < 20 << 20 and METADATA_NAME in message

    _understate_size(bomb, METADATA_NAME, 100)  # the header lies: the cap must still hold
    assert zipfile.ZipFile(bomb).getinfo(METADATA_NAME).file_size == 100
    peak, _ = _peak_while(lambda: read_metadata(bomb))
    assert peak < 20 << 20

    graph_bomb = tmp_path / "graph-bomb.zip"
    _bomb(graph_bomb, GRAPH_NAME, {METADATA_NAME: b"{}"})
    peak, message = _peak_while(lambda: read_graph(graph_bomb, 1 << 20))
    assert peak < 20 << 20 and GRAPH_NAME in message


def _model(nodes, initializers=(), opsets=(("", 18),)) -> bytes:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, 1])],
        initializer=list(initializers),
    )
    opset_imports = [helper.make_opsetid(domain, version) for domain, version in opsets]
    return helper.make_model(graph, opset_imports=opset_imports).SerializeToString()


def test_a_tensor_with_external_data_is_refused(tmp_path, monkeypatch) -> None:
    add = helper.make_node("Add", ["input", "w"], ["output"])
    inline = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    check_graph(_model([add], [inline]))  # the same graph with its weight inside is fine
    external = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    external.ClearField("float_data")
    external.data_location = TensorProto.EXTERNAL
    entry = external.external_data.add()
    entry.key, entry.value = "location", "x"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").write_bytes(struct.pack("<f", 1.0))
    with pytest.raises(ModelFileError, match="external data"):
        check_graph(_model([add], [external]))


def test_an_operator_of_a_custom_domain_is_refused() -> None:
    check_graph(_model([helper.make_node("Identity", ["input"], ["output"])]))
    custom = helper.make_node("Exec", ["input"], ["output"], domain="com.evil")
    with pytest.raises(ModelFileError, match=r"custom domain 'com\.evil'"):
        check_graph(_model([custom], opsets=(("", 18), ("com.evil", 1))))
    hidden = helper.make_graph(
        [helper.make_node("Exec", ["input"], ["inner"], domain="com.evil")],
        "then",
        [],
        [helper.make_tensor_value_info("inner", TensorProto.FLOAT, [None, 1])],
    )
    condition = helper.make_tensor("cond", TensorProto.BOOL, [], [True])
    branch = helper.make_node("If", ["cond"], ["output"], then_branch=hidden, else_branch=hidden)
    with pytest.raises(ModelFileError, match="Exec"):
        check_graph(_model([branch], [condition], opsets=(("", 18), ("com.evil", 1))))


def test_bytes_that_are_not_onnx_are_refused() -> None:
    with pytest.raises(ModelFileError):
        check_graph(b"\x80\x04not a protobuf at all" * 10)


class Histogram(torch.nn.Module):
    """``aten.histc`` has no ONNX translation in torch 2.14."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = torch.stack([torch.histc(row, bins=4) for row in x.flatten(1)])
        return self.linear(counts)


def test_an_operator_onnx_cannot_express_names_itself(tmp_path) -> None:
    module = Histogram().train()
    path = tmp_path / "model.zip"
    with pytest.raises(ModelExportError) as error:
        save_model_file(module, path, example_input=torch.rand(2, 1, 4, 4), classes=["a", "b"])
    message = str(error.value)
    assert "aten.histc" in message
    assert "\x1b" not in message  # no terminal colour codes in what the user reads
    assert not path.exists() and list(tmp_path.iterdir()) == []
    assert module.training  # the caller's mode is restored
