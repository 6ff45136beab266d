"""Trial checkpoints: saved on the training thread, uploaded in the background, fetched to resume.

:class:`CheckpointSaver` is the callback behind ``callbacks.on_checkpoint(state)``. It writes
the state with ``torch.save`` to a temporary file (the training loop must not change the
tensors while they are written, so this part is synchronous), then hands the file to its
upload thread and returns. Uploads run one at a time in epoch order; when a newer checkpoint is
ready before an older one started uploading, the older one is skipped. When the trial ends,
:meth:`~CheckpointSaver.close` drops what is left to upload without waiting (the model
supersedes it; the hub refuses a checkpoint for a trial that has its model), so a slow or
silent network never holds the training thread. A 409 about the lease stops the trial
through ``on_lease_lost``.
"""

from __future__ import annotations

import logging
import pickle
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.hub_client import Backoff, HubError, HubInfo, LeaseLost
from jupyter_mlops.kernel_client.hub_client.http import LEASE_HEADER
from jupyter_mlops.kernel_client.hub_client.transfers import download_file, upload_file
from jupyter_mlops.kernel_client.worker.callbacks import Callback
from jupyter_mlops.modelfile import file_sha256
from jupyter_mlops.private import private_dir

log = logging.getLogger(__name__)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint, tensors on the CPU, as data only (``weights_only=True``).

    A checkpoint is never unpickled in full: one that holds anything but tensors, numbers,
    strings and containers of them is refused with a clear error.
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            "the checkpoint holds objects that cannot be loaded as data (only tensors, "
            f"numbers, strings and containers of them are): {first}"
        ) from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise ValueError("the checkpoint is not a dict with an 'epoch'")
    return state


def checkpoint_route(trial_id: str) -> str:
    """The API path of a trial's checkpoint."""
    return f"trials/{urllib.parse.quote(trial_id)}/checkpoint"


def fetch_checkpoint(
    hub: HubInfo,
    trial_id: str,
    directory: Path,
    *,
    attempt: int | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Download the trial's last checkpoint from the hub and load it; the file is removed.

    ``attempt`` and ``headers`` (the lease header) prove the lease: only its holder may fetch.
    """
    private_dir(directory)
    path = directory / f"{trial_id}-resume.pt"
    try:
        download_file(
            hub,
            checkpoint_route(trial_id),
            path,
            what="checkpoint download",
            attempts=3,
            query={"attempt": attempt},
            headers=headers,
        )
        return load_checkpoint(path)
    finally:
        path.unlink(missing_ok=True)


class CheckpointSaver(Callback):
    """Saves every ``every``-th epoch's checkpoint and uploads it for one trial's lease."""

    def __init__(
        self,
        hub: HubInfo,
        trial_id: str,
        attempt: int,
        directory: Path,
        *,
        every: int = 1,
        note: Callable[[str], None] = lambda text: None,
        on_lease_lost: Callable[[str], None] = lambda reason: None,
        resume_epoch: int = 0,
        lease: str | None = None,
    ) -> None:
        self.hub = hub
        self.trial_id = trial_id
        self.attempt = attempt
        self.directory = directory
        self.every = max(0, int(every))
        self.note = note
        self.on_lease_lost = on_lease_lost
        self.resume_epoch = resume_epoch
        self._headers = {LEASE_HEADER: lease} if lease else {}  # never logged
        self.epochs = 0
        self.saved: list[int] = []
        self.stored: list[int] = []
        self.lease_lost: str | None = None
        self._first_epoch: int | None = None
        self._ready: tuple[int, Path, str] | None = None
        self._busy = False
        self._closing = False
        self._abort = threading.Event()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    # -- hooks (training thread) --------------------------------------------------------------

    def on_train_epoch_start(self, epoch: int, epochs: int) -> None:
        self.epochs = epochs
        if self._first_epoch is None:
            self._first_epoch = epoch
            if self.resume_epoch and epoch == self.resume_epoch + 1:
                self.note(f"resumed from checkpoint at epoch {self.resume_epoch}")
            elif self.resume_epoch:
                self.note(
                    f"the training function started at epoch {epoch}, not after the "
                    f"checkpoint at epoch {self.resume_epoch} (does it read "
                    "callbacks.resume_state?)"
                )

    def on_checkpoint(self, state: Mapping[str, Any]) -> None:
        epoch = int(state["epoch"])
        if self.every <= 0 or epoch % self.every or self.lease_lost:
            return
        if self.epochs and epoch >= self.epochs:
            return  # the model itself follows at once
        import torch

        private_dir(self.directory)
        path = self.directory / f"{self.trial_id}-a{self.attempt}-e{epoch}.pt"
        torch.save(dict(state), path)
        sha = file_sha256(path)
        self.saved.append(epoch)
        with self._cond:
            skipped, self._ready = self._ready, (epoch, path, sha)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._upload_loop, name=f"mlops-checkpoint-{self.trial_id}", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        if skipped is not None:
            skipped[1].unlink(missing_ok=True)
            self.note(f"checkpoint at epoch {skipped[0]} skipped: epoch {epoch}'s is newer")

    # -- the upload thread --------------------------------------------------------------------

    def _upload_loop(self) -> None:
        while True:
            with self._cond:
                while self._ready is None and not self._closing:
                    self._cond.wait()
                if self._ready is None:
                    return
                (epoch, path, sha), self._ready = self._ready, None
                self._busy = True
            try:
                self._upload(epoch, path, sha)
            finally:
                path.unlink(missing_ok=True)
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _upload(self, epoch: int, path: Path, sha: str) -> None:
        if self.lease_lost:
            return
        size = path.stat().st_size
        try:
            upload_file(
                self.hub,
                checkpoint_route(self.trial_id),
                path,
                {"sha256": sha, "attempt": self.attempt, "epoch": epoch},
                what=f"checkpoint upload (epoch {epoch})",
                attempts=3,
                backoff=Backoff(1.0, 4.0),
                abort=self._abort,
                note=self.note,
                headers=self._headers,
            )
        except LeaseLost as exc:
            self.lease_lost = str(exc)
            self.note(f"checkpoint at epoch {epoch} refused: the lease was lost ({exc})")
            self.on_lease_lost(str(exc))
            return
        except HubError as exc:
            self.note(f"checkpoint at epoch {epoch} not stored: {exc}")
            return
        except Exception as exc:  # never let an upload bug kill the trial
            log.exception("checkpoint upload failed")
            self.note(f"checkpoint at epoch {epoch} not stored: {type(exc).__name__}: {exc}")
            return
        self.stored.append(epoch)
        self.note(f"checkpoint at epoch {epoch} stored ({size} bytes)")

    # -- end of the trial ---------------------------------------------------------------------

    def close(self, wait: bool = True, timeout: float = 600.0) -> None:
        """Finish (``wait``) or drop what is left to upload, then end the upload thread.

        Without ``wait`` nothing is joined: an upload already on the wire ends on its own.
        """
        with self._cond:
            if not wait:
                self._abort.set()
                if self._ready is not None:
                    self._ready[1].unlink(missing_ok=True)
                    self._ready = None
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and wait:
            thread.join(timeout)
