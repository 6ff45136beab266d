"""The RayExecutor's arithmetic and its install hint, without a cluster."""

from __future__ import annotations

import sys

import pytest

from jupyter_mlops.kernel_client.worker.ray_executor import INSTALL_HINT, RayExecutor, import_ray

pytestmark = pytest.mark.ray


@pytest.mark.parametrize(
    ("per_trial", "total", "capacity"),
    [
        ({"CPU": 1}, {"CPU": 2.0}, 2),
        ({"CPU": 2}, {"CPU": 5.0}, 2),
        ({"GPU": 1}, {"CPU": 16.0, "GPU": 3.0}, 3),
        ({"CPU": 1, "GPU": 1}, {"CPU": 16.0, "GPU": 2.0}, 2),
        ({"GPU": 1}, {"CPU": 16.0}, 1),  # none fits yet: one waits for a GPU node
        ({"CPU": 0.5}, {"CPU": 2.0}, 4),
    ],
)
def test_capacity_is_how_many_trials_fit(
    per_trial: dict[str, float], total: dict[str, float], capacity: int
) -> None:
    assert RayExecutor(resources_per_trial=per_trial).capacity_of(total) == capacity


def test_without_ray_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(ImportError, match="jupyter_mlops\\[ray\\]") as caught:
        import_ray()
    assert str(caught.value) == INSTALL_HINT
