"""The hub's models: stored models, checkpoints' files, deployment and its listeners."""

from __future__ import annotations

from jupyter_mlops.serverext.feed import Message
from jupyter_mlops.serverext.hub.base import HubBase


class ModelEvents(HubBase):
    """What follows a stored model or checkpoint, and deployments."""

    def model_stored(self, model: Message) -> None:
        """Let the deployment policy judge it (the gate's decision and the switch are one
        compare-and-set in the store), then notify: the model with its decision, and the
        deployment if it changed. The trial's checkpoint stays until the trial is finished
        (a re-run would need it)."""
        decision, deployment = self.policy.after_model_stored(self.store, model["id"])
        self.log.info("jupyter_mlops: model %s %s", model["id"], decision["reason"])
        self.feed.model("stored", self.store.get_model(model["id"]))
        if deployment is not None:
            self._deployed(deployment)

    def checkpoint_stored(self, trial: Message, replaced: str | None) -> None:
        """Drop the checkpoint file it replaced; subscribers re-read the job."""
        self._drop_blob(replaced)
        self._publish_job(trial["job_id"], [trial["id"]])

    def _drop_finished_checkpoints(self) -> None:
        for sha in self.store.drop_finished_checkpoints():
            self._drop_blob(sha)

    def _drop_blob(self, sha256: str | None) -> None:
        if sha256 is not None and not self.store.blob_in_use(sha256):
            self.blobs.delete(sha256)

    def deploy(self, model_id: str) -> Message:
        """Deploy any stored model by hand (a rollback); notify subscribers."""
        deployment = self.policy.deploy(self.store, model_id)
        self._deployed(deployment)
        return deployment

    def clear_models(self) -> int:
        """Delete every model, its file and the deployment history (demo reset)."""
        count, shas = self.store.delete_all_models()
        for sha in shas:
            self._drop_blob(sha)
        self.feed.model("cleared", None)
        self._deployed(None)
        return count

    def _deployed(self, deployment: Message | None) -> None:
        self.feed.deployment(deployment)
        for listener in self.deployment_listeners:
            listener(deployment)
