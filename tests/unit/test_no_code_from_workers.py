"""Regression tests of the two attacks: nothing a worker uploads is ever executed.

A pickle payload creates a canary file when it runs: a checkpoint carrying one must be refused
by the worker that resumes from it, and a model file carrying one must be refused by the server
(upload check and serving). The server and the demo page must not even import torch.
"""

from __future__ import annotations

import ast
import hashlib
import io
import pickle
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch

from jupyter_mlops.kernel_client.worker.checkpoints import load_checkpoint
from jupyter_mlops.modelfile import GRAPH_NAME, METADATA_NAME, read_metadata
from jupyter_mlops.serverext.errors import InvalidInput
from jupyter_mlops.serverext.serving import load_served_model, validate_model_file
from tests.support.models import make_model_file
from tests.support.payloads import Touch, archive_with, legacy_model_file, pickle_payload

PACKAGE = Path(__file__).resolve().parents[2] / "jupyter_mlops"
FORBIDDEN_MODULES = {"torch", "pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib"}
FORBIDDEN_CALLS = {
    "torch.load",
    "torch.jit.load",
    "torch.export.load",
    "pickle.load",
    "pickle.loads",
    "pickle.Unpickler",
    "numpy.load",
    "np.load",
}


def test_the_payload_is_a_real_attack(tmp_path: Path) -> None:
    """The control: loading the payload without protection does create the canary."""
    canary = tmp_path / "control"
    pickle.loads(pickle_payload(canary))
    assert canary.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_a_checkpoint_with_a_pickle_payload_is_refused(tmp_path: Path, writer: str) -> None:
    canary = tmp_path / "canary"
    path = tmp_path / "checkpoint.pt"
    state = {"epoch": 1, "model": Touch(canary)}
    if writer == "torch.save":
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state))
    with pytest.raises(ValueError, match="cannot be loaded as data"):
        load_checkpoint(path)
    assert not canary.exists()


def test_the_tutorial_checkpoint_loads_as_data(tmp_path: Path) -> None:
    from jupyter_mlops.tutorial.model import CifarNet
    from jupyter_mlops.tutorial.training import checkpoint, make_loader, resume

    def parts(seed: int) -> tuple:
        torch.manual_seed(seed)
        model = CifarNet(3, 8, 16, input_size=16)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        loader = make_loader(torch.rand(8, 3, 16, 16), torch.arange(8) % 10, 4, shuffle=True)
        return model, optimizer, loader

    model, optimizer, loader = parts(0)
    loss = model(torch.rand(4, 3, 16, 16)).sum()
    loss.backward()
    optimizer.step()  # the optimizer has state (Adam's moments)
    next(iter(loader))
    path = tmp_path / "checkpoint.pt"
    torch.save(checkpoint(3, 6, model, optimizer, loader), path)  # as the worker saves it

    state = load_checkpoint(path)
    assert state["epoch"] == 3 and state["step"] == 6
    fresh, fresh_optimizer, fresh_loader = parts(1)
    assert resume(state, fresh, fresh_optimizer, fresh_loader) == 3
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, fresh.state_dict()[name]), name
    assert torch.equal(fresh_loader.generator.get_state(), loader.generator.get_state())


def _hostile_model_files(tmp_path: Path, canary: Path) -> dict[str, bytes]:
    good = tmp_path / "good.zip"
    make_model_file(good, accuracy=0.999)
    members = _members(good.read_bytes())
    return {
        "legacy torch.export": legacy_model_file(canary),
        "legacy torchscript": legacy_model_file(canary, program="torchscript"),
        "graph is a pickle": archive_with(
            {METADATA_NAME: members[METADATA_NAME], GRAPH_NAME: pickle_payload(canary)}
        ),
        "no graph, a pickle instead": archive_with(
            {METADATA_NAME: members[METADATA_NAME], "model.pt": pickle_payload(canary)}
        ),
    }


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_a_model_file_with_a_pickle_payload_is_never_run(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    for what, data in _hostile_model_files(tmp_path, canary).items():
        path = tmp_path / "upload.zip"
        path.write_bytes(data)
        with pytest.raises(InvalidInput) as refused:
            validate_model_file(path, 1 << 24)
        if what.startswith("legacy"):
            assert "legacy" in refused.value.message, what
        with pytest.raises(ValueError):  # ModelFileError and InvalidInput are both ValueErrors
            load_served_model(data, hashlib.sha256(data).hexdigest(), 1 << 24)
        assert not canary.exists(), what
    with pytest.raises(ValueError, match="legacy"):
        read_metadata(io.BytesIO(legacy_model_file(canary)))
    assert not canary.exists()


def test_an_onnx_model_file_with_an_extra_pickle_member_never_runs_it(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    good = tmp_path / "good.zip"
    make_model_file(good, accuracy=0.5)
    data = archive_with({**_members(good.read_bytes()), "extra.pkl": pickle_payload(canary)})
    path = tmp_path / "upload.zip"
    path.write_bytes(data)
    assert validate_model_file(path, 1 << 24)["program"] == "onnx"  # served: the graph only
    served = load_served_model(data, hashlib.sha256(data).hexdigest(), 1 << 24)
    assert served.metadata["metrics"]["test_accuracy"] == 0.5
    assert not canary.exists()


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Call):
            called = _dotted(node.func)
            if called in FORBIDDEN_CALLS:
                found.append(f"{path.name}:{node.lineno} calls {called}")
            if called in ("__import__", "importlib.import_module", "import_module"):
                argument = node.args[0] if node.args else None
                if isinstance(argument, ast.Constant) and str(argument.value).split(".")[0] in (
                    FORBIDDEN_MODULES
                ):
                    found.append(f"{path.name}:{node.lineno} imports {argument.value}")
            continue
        else:
            continue
        found += [
            f"{path.name}:{node.lineno} imports {name}"
            for name in names
            if name.split(".")[0] in FORBIDDEN_MODULES
        ]
    return found


def test_the_server_and_the_demo_never_import_torch_or_unpickle(tmp_path: Path) -> None:
    sources = sorted(PACKAGE.glob("serverext/**/*.py")) + sorted(
        PACKAGE.glob("kernel_client/demo/**/*.py")
    )
    assert len(sources) > 20 and any(p.name == "serving.py" for p in sources)
    assert [v for path in sources for v in _violations(path)] == []
    probe = tmp_path / "probe.py"  # the scanner finds what it looks for
    probe.write_text(
        "import torch.nn\nfrom pickle import loads\nimport importlib\n"
        "def f():\n    importlib.import_module('dill')\n    return np.load('x')\n"
    )
    assert len(_violations(probe)) == 4


def test_serving_a_model_file_does_not_import_torch(tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    make_model_file(path, accuracy=0.5)
    script = textwrap.dedent(
        f"""
        import asyncio, hashlib, sys
        from pathlib import Path
        import jupyter_mlops.serverext.app
        from jupyter_mlops.serverext.blobs import BlobStore
        from jupyter_mlops.serverext.serving import ModelServer, validate_model_file

        path = Path({str(path)!r})
        validate_model_file(path, 1 << 24)
        async def main():
            blobs = BlobStore(path.parent / "blobs")
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            blobs.path(sha).write_bytes(path.read_bytes())
            server = ModelServer(blobs, max_graph_bytes=1 << 24)
            await server.follow({{"id": 1, "model_id": "1-0", "sha256": sha}})
            answer = await server.predict_tensor([[[0.0] * 16] * 16] * 3)
            server.close()
            return answer
        answer = asyncio.run(main())
        print(len(answer["predictions"][0]["probabilities"]))
        print(sorted(m for m in ("torch", "torchvision", "dill") if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    ).stdout.splitlines()
    assert out[0] == "10"
    assert out[1] == "[]"
