"""The model file: an ONNX graph with its weights plus metadata; data, never a program to run.

A model file is a zip archive holding ``metadata.json`` and ``model.onnx``. The graph is a
protobuf of operators and tensors that onnxruntime evaluates: loading it cannot run code,
and it needs no copy of the notebook's class. The worker exports it with
``torch.onnx.export(dynamo=True)`` and checks onnxruntime's output against torch's before
uploading. Reading the metadata needs only the standard library (the server indexes uploads
without torch); both parts are read with size caps, so a crafted archive cannot exhaust
memory. Files of the first format (``torch.export``/TorchScript programs) are *legacy*:
recognised, listed, never loaded.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

from jupyter_mlops.evidence import record_problem
from jupyter_mlops.messages import decode

FORMAT_VERSION = 2
METADATA_NAME = "metadata.json"
GRAPH_NAME = "model.onnx"
PROGRAM = "onnx"
LEGACY_PROGRAMS = ("torch.export", "torchscript")
REQUIRED_METADATA = ("format_version", "classes", "input_size", "sha1")
MAX_METADATA_BYTES = 1 << 20
#: onnxruntime output vs torch output on the example input: |a - b| <= ATOL + RTOL * |b|
ATOL, RTOL = 1e-4, 1e-3

log = logging.getLogger(__name__)


class ModelFileError(ValueError):
    """The file is not a readable jupyter-mlops model file; the message says why."""


class LegacyModelFile(ModelFileError):
    """A model file of the first format (an executable program): never loaded."""


class ModelExportError(RuntimeError):
    """The trained model could not be exported as a checked ONNX graph."""


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def parameter_sha1(module: Any) -> str:
    """Sha1 of a module's parameters and buffers (state_dict in key order): its identity."""
    digest = hashlib.sha1()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# -- reading (standard library only) --------------------------------------------------------


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """One archive member, refused past ``limit`` bytes (whatever its header claims)."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise ModelFileError(f"{name} is {info.file_size} bytes; at most {limit} are accepted")
    with archive.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise ModelFileError(f"{name} is over {limit} bytes once decompressed")
    return data


def read_metadata(source: str | os.PathLike[str] | IO[bytes]) -> dict[str, Any]:
    """Read and check the metadata of a model file; raise ModelFileError when it is not one.

    A file of the first format raises :class:`LegacyModelFile` (its metadata is on
    ``exc.detail``); its program is never read.
    """
    try:
        with zipfile.ZipFile(source) as archive:
            names = set(archive.namelist())
            if METADATA_NAME not in names:
                raise ModelFileError(f"the archive has no {METADATA_NAME}")
            # NaN and infinities (a diverged metric) are read as text, as every message is
            metadata = decode(_read_member(archive, METADATA_NAME, MAX_METADATA_BYTES))
            if not isinstance(metadata, dict):
                raise ModelFileError(f"{METADATA_NAME} must hold a JSON object")
            if metadata.get("program") in LEGACY_PROGRAMS:
                error = LegacyModelFile(
                    "legacy model file (an executable torch program, not loadable as data): "
                    "re-train or re-export it with this version to get an ONNX model file"
                )
                error.detail = metadata  # type: ignore[attr-defined]
                raise error
            if GRAPH_NAME not in names:
                raise ModelFileError(f"the archive has no {GRAPH_NAME}")
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelFileError(f"not a model file (a zip archive is expected): {exc}") from exc
    except (ValueError, RecursionError) as exc:  # not JSON, too deep, a 4,301-digit number
        raise ModelFileError(f"{METADATA_NAME} is not valid JSON: {exc}") from exc
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ModelFileError(f"{METADATA_NAME} lacks {', '.join(missing)}")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"format_version {metadata.get('format_version')!r} is not {FORMAT_VERSION}"
        )
    size = metadata.get("input_size")
    if not (isinstance(size, list) and len(size) == 3 and all(type(v) is int for v in size)):
        raise ModelFileError(f"input_size must be [C, H, W] integers, got {size!r}")
    classes = metadata.get("classes")
    if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise ModelFileError("classes must be a list of strings")
    if metadata.get("evaluation") is not None:  # per-example test results, for the deploy gate
        problem = record_problem(metadata["evaluation"])
        if problem is not None:
            raise ModelFileError(f"evaluation (the per-example test results): {problem}")
    return metadata


def read_graph(source: str | os.PathLike[str] | IO[bytes], max_bytes: int) -> bytes:
    """The ONNX graph of a model file (after :func:`read_metadata` accepted it)."""
    try:
        with zipfile.ZipFile(source) as archive:
            return _read_member(archive, GRAPH_NAME, max_bytes)
    except KeyError as exc:
        raise ModelFileError(f"the archive has no {GRAPH_NAME}") from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelFileError(f"not a model file (a zip archive is expected): {exc}") from exc


# -- ONNX graphs (onnx and onnxruntime: no torch) ----------------------------------------


def check_graph(graph: bytes) -> None:
    """Refuse what onnxruntime must not be handed: external data, custom operator domains."""
    import onnx

    try:
        model = onnx.ModelProto()
        model.ParseFromString(graph)
    except Exception as exc:
        raise ModelFileError(f"{GRAPH_NAME} is not an ONNX model: {exc}") from exc
    for graph_proto in _graphs(model.graph):
        tensors = list(graph_proto.initializer)
        for node in graph_proto.node:
            if node.domain not in ("", "ai.onnx", "ai.onnx.ml"):
                raise ModelFileError(
                    f"{GRAPH_NAME} uses operator {node.op_type} of the custom domain "
                    f"{node.domain!r}: only standard ONNX operators are accepted"
                )
            for attribute in node.attribute:
                tensors += [attribute.t, *attribute.tensors]
        for tensor in tensors:
            if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
                raise ModelFileError(
                    f"{GRAPH_NAME}: tensor {tensor.name!r} refers to external data; "
                    "weights must be inside the graph"
                )
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelFileError(f"{GRAPH_NAME} fails the ONNX checker: {exc}") from exc


def _graphs(graph: Any) -> Any:
    """A graph and every subgraph inside its operators' attributes, depth first."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _graphs(attribute.g)
            for subgraph in attribute.graphs:
                yield from _graphs(subgraph)


def load_session(graph: bytes, threads: int = 1) -> Any:
    """An onnxruntime session for a checked graph, on the CPU with ``threads`` threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


# -- writing (the worker: torch, onnx, onnxscript) ----------------------------------------


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _operator_in(message: str) -> str | None:
    found = re.search(r"aten[.:]+[\w.]+", message)
    return found.group(0) if found else None


def export_onnx(module: Any, example: Any) -> bytes:
    """Export ``module`` (eval mode, CPU) to an ONNX graph with a dynamic batch dimension."""
    import torch

    if example.shape[0] < 2:  # a batch of one would be specialised away
        example = torch.cat([example, example])
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    try:
        program = torch.onnx.export(
            module, (example,), dynamo=True, dynamic_shapes=({0: batch},), verbose=False
        )
        assert program is not None
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / GRAPH_NAME
            program.save(str(path))
            if any(p.name != GRAPH_NAME for p in Path(folder).iterdir()):
                raise ModelExportError("the export wrote external data; the model is too large")
            return path.read_bytes()
    except ModelExportError:
        raise
    except Exception as exc:
        text = _ANSI.sub("", str(exc)).strip()  # torch colours its messages for terminals
        operator = _operator_in(text)
        which = f" (operator {operator} failed)" if operator else ""
        raise ModelExportError(
            f"the model could not be exported to ONNX{which}: {type(exc).__name__}: "
            f"{text.splitlines()[0] if text else ''}"
        ) from exc


def compare_outputs(graph: bytes, module: Any, example: Any) -> float:
    """Run the graph and the module on ``example``; return the max abs difference (checked)."""
    import numpy as np
    import torch

    session = load_session(graph)
    with torch.no_grad():
        expected = module(example).detach().cpu().numpy()
    got = session.run(None, {session.get_inputs()[0].name: example.cpu().numpy()})[0]
    if got.shape != expected.shape:
        raise ModelExportError(f"the ONNX graph gives shape {got.shape}, torch {expected.shape}")
    difference = float(np.max(np.abs(got - expected))) if expected.size else 0.0
    if not np.allclose(got, expected, atol=ATOL, rtol=RTOL):
        raise ModelExportError(
            f"the ONNX graph does not compute what the torch model does "
            f"(max abs difference {difference:.3g} on the example input)"
        )
    return difference


def save_model_file(
    module: Any,
    path: str | os.PathLike[str],
    *,
    example_input: Any,
    classes: list[str],
    normalization: dict[str, list[float]] | None = None,
    hyperparameters: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Export ``module`` as a checked ONNX model file at ``path``; return its metadata.

    Raises :class:`ModelExportError` (naming the operator when one failed). The file is
    written to a temporary name and renamed, so a crash leaves no half file.
    ``metadata["sha256"]`` is added to the returned dict (it cannot be inside the file).
    """
    import torch

    was_training = module.training
    try:
        cpu_module = module.eval().to("cpu")
        example = example_input.detach().to("cpu")
        with torch.no_grad():
            graph = export_onnx(cpu_module, example)
            difference = compare_outputs(graph, cpu_module, example)
        metadata: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "program": PROGRAM,
            "graph_file": GRAPH_NAME,
            "classes": [str(c) for c in classes],
            "input_size": [int(v) for v in example.shape[1:]],
            "input_dtype": str(example.dtype).removeprefix("torch."),
            "normalization": normalization or {},
            "hyperparameters": hyperparameters or {},
            "param_count": int(sum(p.numel() for p in cpu_module.parameters())),
            "metrics": metrics or {},
            "sha1": parameter_sha1(cpu_module),
            "export_check": {"max_abs_difference": difference, "atol": ATOL, "rtol": RTOL},
            "torch_version": torch.__version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            **(extra or {}),
        }
    finally:
        module.train(was_training)
    return write_model_file(path, graph, metadata)


def write_model_file(
    path: str | os.PathLike[str], graph: bytes, metadata: dict[str, Any]
) -> dict[str, Any]:
    """Write a model file atomically (temporary name, then rename); return metadata + sha256."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(METADATA_NAME, json.dumps(metadata, indent=1))
            zf.writestr(GRAPH_NAME, graph)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {**metadata, "sha256": file_sha256(target)}
