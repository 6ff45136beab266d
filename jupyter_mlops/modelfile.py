"""The model file: an exported program plus metadata, loadable without the notebook's class.

A model file is a zip archive holding ``metadata.json`` and the program: ``program.pt2``
(``torch.export``) or ``program.pt`` (TorchScript, the fallback when export fails).
``read_metadata`` needs only the standard library, so the server can index uploads without
importing torch.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

FORMAT_VERSION = 1
METADATA_NAME = "metadata.json"
EXPORT_NAME = "program.pt2"
TORCHSCRIPT_NAME = "program.pt"
REQUIRED_METADATA = ("format_version", "program", "classes", "input_size", "sha1")

log = logging.getLogger(__name__)


class ModelFileError(ValueError):
    """The file is not a readable jupyter-mlops model file."""


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


def read_metadata(source: str | os.PathLike[str] | IO[bytes]) -> dict[str, Any]:
    """Read and check the metadata of a model file; raise ModelFileError when it is not one."""
    try:
        with zipfile.ZipFile(source) as archive:
            names = set(archive.namelist())
            if METADATA_NAME not in names:
                raise ModelFileError(f"the archive has no {METADATA_NAME}")
            metadata = json.loads(archive.read(METADATA_NAME))
            if metadata.get("program_file") not in names:
                raise ModelFileError("the archive has no program file")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelFileError(f"not a model file (a zip archive is expected): {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{METADATA_NAME} is not valid JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{METADATA_NAME} must hold a JSON object")
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ModelFileError(f"{METADATA_NAME} lacks {', '.join(missing)}")
    return metadata


def _export_program(module: Any, example_input: Any) -> tuple[str, bytes]:
    """Export with torch.export (batch dimension dynamic); fall back to TorchScript."""
    import torch

    buffer = io.BytesIO()
    try:
        batch = torch.export.Dim("batch", min=1, max=1 << 16)
        program = torch.export.export(
            module, (example_input,), dynamic_shapes=({0: batch},), strict=False
        )
        torch.export.save(program, buffer)
        return EXPORT_NAME, buffer.getvalue()
    except Exception as exc:  # torch.export rejects some models: TorchScript still works
        log.warning("torch.export failed (%s); saving TorchScript instead", exc)
        buffer = io.BytesIO()
        torch.jit.save(torch.jit.trace(module, example_input), buffer)
        return TORCHSCRIPT_NAME, buffer.getvalue()


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
    """Export ``module`` (in eval mode, on the CPU) to ``path`` and return its metadata.

    The file is written to a temporary name and renamed, so a crash leaves no half file.
    ``metadata["sha256"]`` is added to the returned dict (it cannot be inside the file).
    """
    import torch

    was_training = module.training
    module = module.eval()
    try:
        cpu_module = module.to("cpu")
        example = example_input.detach().to("cpu")
        with torch.no_grad():
            program_file, program = _export_program(cpu_module, example)
        metadata: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "program": "torch.export" if program_file == EXPORT_NAME else "torchscript",
            "program_file": program_file,
            "classes": list(classes),
            "input_size": list(example.shape[1:]),
            "input_dtype": str(example.dtype).removeprefix("torch."),
            "normalization": normalization or {},
            "hyperparameters": hyperparameters or {},
            "param_count": int(sum(p.numel() for p in cpu_module.parameters())),
            "metrics": metrics or {},
            "sha1": parameter_sha1(cpu_module),
            "torch_version": torch.__version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            **(extra or {}),
        }
    finally:
        module.train(was_training)
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            archive.writestr(METADATA_NAME, json.dumps(metadata, indent=1))
            archive.writestr(program_file, program)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {**metadata, "sha256": file_sha256(target)}


@dataclass
class LoadedModel:
    """A model ready to predict: the program and its metadata."""

    program: Any
    metadata: dict[str, Any]

    def __call__(self, batch: Any) -> Any:
        return self.program(batch)


def load_model_file(source: str | os.PathLike[str] | bytes) -> LoadedModel:
    """Load a model file into a callable program; needs torch, never the notebook's class."""
    import torch

    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    metadata = read_metadata(io.BytesIO(data))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        program_bytes = archive.read(metadata["program_file"])
    if metadata["program_file"] == EXPORT_NAME:
        program = torch.export.load(io.BytesIO(program_bytes)).module()
    else:
        program = torch.jit.load(io.BytesIO(program_bytes), map_location="cpu")
        program.eval()
    return LoadedModel(program=program, metadata=metadata)
