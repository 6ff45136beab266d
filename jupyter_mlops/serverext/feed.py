"""The events feed: who listens on ``/ws/events`` and the notifications they are sent.

Every message type a subscriber receives is named here, from ``messages.py``; REST stays the
truth and these are notifications. A subscriber is any callable taking the encoded frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from jupyter_mlops.messages import (
    DEPLOYMENT_CHANGED,
    JOB_CHANGED,
    MODEL_CHANGED,
    SERVING_CHANGED,
    WORKER_CHANGED,
    encode,
)

Message = dict[str, Any]
Subscriber = Callable[[str], None]  # receives the encoded frame


class Feed:
    """Subscribers of the events websocket; each message is encoded once for all of them."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self._subscribers: set[Subscriber] = set()

    def __bool__(self) -> bool:
        """Whether anyone listens (notifications are only built then)."""
        return bool(self._subscribers)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.add(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def clear(self) -> None:
        self._subscribers.clear()

    def publish(self, message: Message) -> None:
        """Encode once, then hand the frame to every subscriber; drop those that fail."""
        if not self._subscribers:
            return
        frame = encode(message)
        for subscriber in list(self._subscribers):
            try:
                subscriber(frame)
            except Exception:  # a dead socket must not stop the others
                self.log.debug("dropping a subscriber that failed", exc_info=True)
                self._subscribers.discard(subscriber)

    def worker(self, worker: Message) -> None:
        """A worker came, went, or took or ended a trial."""
        self.publish({"type": WORKER_CHANGED, "worker": worker})

    def job(self, job: Message) -> None:
        """A job (with its trials) changed."""
        self.publish({"type": JOB_CHANGED, "job": job})

    def model(self, action: str, model: Message | None) -> None:
        """A model was ``stored``, or every model was ``cleared`` (``model`` is None)."""
        self.publish({"type": MODEL_CHANGED, "action": action, "model": model})

    def deployment(self, deployment: Message | None) -> None:
        """What is deployed changed (None: nothing is deployed any more)."""
        self.publish({"type": DEPLOYMENT_CHANGED, "deployment": deployment})

    def serving(self, serving: Message) -> None:
        """What the hub serves on /predict changed, or a deployed model failed to load."""
        self.publish({"type": SERVING_CHANGED, "serving": serving})
