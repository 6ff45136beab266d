"""REST handlers for models (list, metadata, clear, file) and trial checkpoints."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from jupyter_mlops.serverext.errors import DamagedFile, InvalidInput
from jupyter_mlops.serverext.handlers.base import WORKER_SCOPE, MLOpsHandler, scoped
from jupyter_mlops.serverext.handlers.uploads import StreamedFileHandler
from jupyter_mlops.serverext.serving import validate_model_file


class ModelsHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        """List models (newest job first) and their grouping by job."""
        models = self.ctx.store.list_models()
        groups: dict[int, list[str]] = {}
        for model in models:
            groups.setdefault(model["job_id"], []).append(model["id"])
        self.reply(
            {
                "models": models,
                "groups": [{"job_id": j, "model_ids": ids} for j, ids in groups.items()],
            }
        )

    @web.authenticated
    @authorized
    def delete(self) -> None:
        """Clear the store: every model, its file and the deployment history (demo reset)."""
        self.reply({"deleted": self.ctx.hub.clear_models()})


class ModelHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def get(self, model_id: str) -> None:
        """A model's metadata: metrics, hyperparameters, sha1, sha256, size, its per-example
        test results and every deploy decision on it (newest first)."""
        model = self.ctx.store.get_model(model_id, evaluation=True)
        self.reply({**model, "decisions": self.ctx.store.model_decisions(model_id)})


@web.stream_request_body
class ModelFileHandler(StreamedFileHandler):
    """Download a model file, or upload one streamed to disk and checked by sha256."""

    def check_target(self) -> None:
        model_id = self.path_kwargs["model_id"]
        self.ctx.store.check_model_id(model_id)
        self.ctx.store.check_lease(
            model_id, *self.lease, self.token_id, sha256=self.get_query_argument("sha256")
        )

    @scoped(WORKER_SCOPE)
    async def put(self, model_id: str) -> None:
        """Upload a trial's model file, from the holder of the trial's lease.

        ``?sha256=&attempt=`` and the ``X-MLOps-Lease`` header; 201, or 200 if the same file
        is already stored."""
        limit = self.ctx.max_upload_bytes
        sha, size, metadata = await self.received(lambda path: validate_model_file(path, limit))
        model, created = self.ctx.store.add_model(
            model_id, sha, size, metadata, *self.lease, self.token_id
        )
        if created:
            self.ctx.hub.model_stored(model)
        self.reply(self.ctx.store.get_model(model_id), status=201 if created else 200)

    @web.authenticated
    @authorized
    async def get(self, model_id: str) -> None:
        """Download the model file (a zip archive, see docs/API.md), checked against its
        sha256 first: a missing or damaged file is a JSON 500 and the model is marked damaged."""
        model = self.ctx.store.get_model(model_id)
        what = f"the file of model {model_id}"
        if model.get("damaged"):
            raise DamagedFile(
                f"{what} cannot be sent: {model['damaged']}",
                {"reason": "damaged", "model_id": model_id, "problem": model["damaged"]},
            )
        try:
            await self.send_blob(model["sha256"], "application/zip", f"model-{model_id}.zip", what)
        except DamagedFile as exc:
            self.ctx.store.mark_model_damaged(model_id, exc.detail["problem"])
            exc.detail["model_id"] = model_id
            raise


@web.stream_request_body
class CheckpointHandler(StreamedFileHandler):
    """A trial's newest checkpoint, so a re-queued trial resumes on another worker."""

    def check_target(self) -> None:
        self.ctx.store.check_lease(self.path_kwargs["trial_id"], *self.lease, self.token_id)

    @scoped(WORKER_SCOPE)
    async def put(self, trial_id: str) -> None:
        """Upload a trial's checkpoint, from the holder of the trial's lease.

        ``?sha256=&attempt=&epoch=`` and the ``X-MLOps-Lease`` header."""
        epoch = self.optional_int("epoch")
        if epoch is None:
            raise InvalidInput("query argument epoch (completed epochs) is required")
        sha, _, _ = await self.received(lambda path: None)
        attempt, lease = self.lease
        trial, replaced = self.ctx.store.set_checkpoint(
            trial_id, attempt, lease, epoch, sha, self.token_id
        )
        self.ctx.hub.checkpoint_stored(trial, replaced)
        self.reply(trial, status=201)

    @scoped(WORKER_SCOPE)
    async def get(self, trial_id: str) -> None:
        """Download the trial's newest checkpoint, for the holder of its lease to resume it.

        ``?attempt=`` and the ``X-MLOps-Lease`` header."""
        self.check_target()
        sha, epoch = self.ctx.store.checkpoint_of(trial_id)
        self.set_header("X-MLOps-Checkpoint-Epoch", str(epoch))
        try:
            await self.send_blob(
                sha,
                "application/octet-stream",
                f"checkpoint-{trial_id}.pt",
                f"the checkpoint of trial {trial_id}",
            )
        except DamagedFile:
            self.ctx.store.forget_checkpoint(trial_id)  # the trial resumes from the start
            raise
