"""What a training function returns, and what the worker infers when it returns less.

The model file needs the trained model, an example input (its shape and dtype), the class
names and the metrics to compare models by. A training function may return all of it as a
:class:`TrialResult` (or a dict with the same keys), or just the model, or ``(model,
metrics)``; :meth:`TrialResult.coerce` fills in the rest from what the trial reported:

- ``metrics``: the last value of each metric the trial reported (``jupyter_mlops.log``,
  epoch metrics), overridden by the metrics returned;
- ``example_input``: the one returned, else the one given to ``jupyter_mlops.watch(model,
  example_input)`` or the first batch a watched model saw, else the model's
  ``example_input_array`` (the Lightning convention);
- ``classes``: the ones returned, else the model's ``classes`` attribute (strings), else
  ``"0"`` .. ``"n-1"`` for a model whose output on the example input is ``(batch, n)``.

What cannot be inferred fails the trial with a :class:`TrialResultError` naming it and how to
provide it. The parameter count and input size come from the model and the example input
when the model file is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_FIELDS = ("model", "metrics", "classes", "example_input", "normalization", "extra")


class TrialResultError(TypeError):
    """The training function's result lacks what the model file needs; the message says what."""


def is_model(value: Any) -> bool:
    """Whether ``value`` looks like a torch module (it has parameters and a state dict)."""
    return hasattr(value, "state_dict") and hasattr(value, "parameters") and callable(value)


@dataclass
class TrialResult:
    """What a training function returns: the trained model and what to store with it."""

    model: Any
    metrics: dict[str, Any]
    classes: list[str]
    example_input: Any
    normalization: dict[str, list[float]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def coerce(
        cls,
        value: Any,
        *,
        example_input: Any = None,
        logged: Mapping[str, Any] | None = None,
    ) -> TrialResult:
        """Turn a training function's return value into a TrialResult, inferring what lacks.

        ``value`` is a TrialResult (taken as is), a model, ``(model,)``, ``(model, metrics)``,
        or a mapping with ``model`` and any of metrics, classes, example_input, normalization
        and extra. ``example_input`` is the batch the trial's watched model saw; ``logged`` the
        last value of each metric it reported. Raises :class:`TrialResultError`.
        """
        if isinstance(value, cls):
            return value
        parts = _parts(value)
        model = parts["model"]
        metrics = {**(logged or {}), **dict(parts.get("metrics") or {})}
        example = parts.get("example_input")
        if example is None:
            example = example_input
        if example is None:
            example = getattr(model, "example_input_array", None)
        if example is None:
            raise TrialResultError(
                "the training function returned a model but no example input, which the model "
                "file needs (input size and type): call jupyter_mlops.watch(model) before "
                "training (it keeps the first batch the model sees), or set "
                "model.example_input_array, or return {'model': model, 'example_input': batch}"
            )
        if not hasattr(example, "shape"):
            raise TrialResultError(
                f"the example input must be a tensor, not {type(example).__name__}"
            )
        classes = parts.get("classes")
        if classes is None:
            classes = _model_classes(model) or _numbered_classes(model, example)
        return cls(
            model=model,
            metrics=metrics,
            classes=[str(c) for c in classes],
            example_input=example,
            normalization=parts.get("normalization"),
            extra=dict(parts.get("extra") or {}),
        )

    def save(
        self, path: Any, params: Mapping[str, Any], trial_id: str, job_id: int
    ) -> dict[str, Any]:
        """Write this result as the trial's model file at ``path``; return its metadata."""
        from jupyter_mlops.kernel_client.worker.reporter import jsonable
        from jupyter_mlops.modelfile import save_model_file

        return save_model_file(
            self.model,
            path,
            example_input=self.example_input,
            classes=list(self.classes),
            normalization=self.normalization,
            hyperparameters=dict(params),
            metrics=jsonable(self.metrics),
            extra={"trial_id": trial_id, "job_id": job_id, **self.extra},
        )


def _parts(value: Any) -> dict[str, Any]:
    """The fields the training function returned, by name; ``model`` is always there."""
    if isinstance(value, Mapping):
        parts = {k: value[k] for k in _FIELDS if k in value}
        if not is_model(parts.get("model")):
            raise TrialResultError(
                "the training function returned a dict without a 'model' (a torch module); "
                f"its keys: {', '.join(map(str, value)) or 'none'}"
            )
        return parts
    if isinstance(value, tuple) and 1 <= len(value) <= 2 and is_model(value[0]):
        metrics = value[1] if len(value) == 2 else None
        if metrics is not None and not isinstance(metrics, Mapping):
            raise TrialResultError(
                "a training function returning a tuple returns (model, metrics), metrics a "
                f"dict; got {type(metrics).__name__} second"
            )
        return {"model": value[0], "metrics": metrics}
    if is_model(value):
        return {"model": value}
    raise TrialResultError(
        "the training function must return the trained model (a torch module), "
        "(model, metrics), a dict with 'model', or a TrialResult; "
        f"got {type(value).__name__}"
    )


def _model_classes(model: Any) -> list[str] | None:
    """The model's own ``classes`` attribute, when it is a list of names."""
    classes = getattr(model, "classes", None)
    if isinstance(classes, (list, tuple)) and classes and all(isinstance(c, str) for c in classes):
        return list(classes)
    return None


def _numbered_classes(model: Any, example: Any) -> list[str]:
    """``"0"`` .. ``"n-1"`` from the model's ``(batch, n)`` output on the example input."""
    import torch

    parameter = next(iter(model.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    was_training = model.training
    try:
        with torch.no_grad():
            output = model.eval()(example.to(device))
    except Exception as exc:
        raise TrialResultError(
            "the model could not be run on its example input to count its classes "
            f"({type(exc).__name__}: {exc}); return {{'model': ..., 'classes': [...]}}"
        ) from exc
    finally:
        model.train(was_training)
    shape = tuple(getattr(output, "shape", ()))
    if len(shape) != 2 or shape[1] < 1:
        raise TrialResultError(
            f"the model's output has shape {list(shape)}, not (batch, classes): its class "
            "names cannot be inferred; return {'model': ..., 'classes': [...]} or set "
            "model.classes"
        )
    return [str(i) for i in range(shape[1])]
