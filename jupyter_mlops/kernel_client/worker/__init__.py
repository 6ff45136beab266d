"""The notebook worker: runs the hub's trials in a background thread and reports everything.

``start_worker`` (in :mod:`.registry`) starts this kernel's one :class:`~.worker.Worker`;
training code reports through :mod:`.callbacks`; :mod:`.link`, :mod:`.outbox` and
:mod:`.logtee` make sure nothing it logs is lost; :mod:`.magics` is ``%mlops``.
"""
