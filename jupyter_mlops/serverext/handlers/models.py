"""REST handlers for models (list, metadata, clear, file) and trial checkpoints."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from jupyter_mlops.serverext.errors import InvalidInput
from jupyter_mlops.serverext.handlers.base import MLOpsHandler
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
        """A model's metadata: metrics, hyperparameters, sha1, sha256, size."""
        self.reply(self.ctx.store.get_model(model_id))


@web.stream_request_body
class ModelFileHandler(StreamedFileHandler):
    """Download a model file, or upload one streamed to disk and checked by sha256."""

    def check_target(self) -> None:
        self.ctx.store.check_model_id(self.path_kwargs["model_id"])

    @web.authenticated
    @authorized
    async def put(self, model_id: str) -> None:
        """Upload a trial's model file (``?sha256=&attempt=``); 201, or 200 if already stored."""
        attempt = self.optional_int("attempt")
        limit = self.ctx.max_upload_bytes
        sha, size, metadata = await self.received(lambda path: validate_model_file(path, limit))
        model, created, freed = self.ctx.store.add_model(model_id, sha, size, metadata, attempt)
        if created:
            self.ctx.hub.model_stored(model, freed)
        self.reply(self.ctx.store.get_model(model_id), status=201 if created else 200)

    @web.authenticated
    @authorized
    async def get(self, model_id: str) -> None:
        """Download the model file (a zip archive, see docs/API.md)."""
        model = self.ctx.store.get_model(model_id)
        await self.send_blob(model["sha256"], "application/zip", f"model-{model_id}.zip")


@web.stream_request_body
class CheckpointHandler(StreamedFileHandler):
    """A trial's newest checkpoint, so a re-queued trial resumes on another worker."""

    def check_target(self) -> None:
        self.ctx.store.check_lease(self.path_kwargs["trial_id"], self.optional_int("attempt"))

    @web.authenticated
    @authorized
    async def put(self, trial_id: str) -> None:
        """Upload a checkpoint (``?sha256=&attempt=&epoch=``) from the trial's lease holder."""
        epoch = self.optional_int("epoch")
        if epoch is None:
            raise InvalidInput("query argument epoch (completed epochs) is required")
        attempt = self.optional_int("attempt")
        sha, _, _ = await self.received(lambda path: None)
        trial, replaced = self.ctx.store.set_checkpoint(trial_id, attempt, epoch, sha)
        self.ctx.hub.checkpoint_stored(trial, replaced)
        self.reply(trial, status=201)

    @web.authenticated
    @authorized
    async def get(self, trial_id: str) -> None:
        """Download the trial's newest checkpoint."""
        sha, epoch = self.ctx.store.checkpoint_of(trial_id)
        self.set_header("X-MLOps-Checkpoint-Epoch", str(epoch))
        await self.send_blob(sha, "application/octet-stream", f"checkpoint-{trial_id}.pt")
