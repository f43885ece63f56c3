"""What a Dask worker keeps for the audits it serves: each remote dataset's Source, sent once per worker.

A Source carries the filesystem's storage options (keys, secrets, endpoints). Sent as a task
argument it would sit in the scheduler's task graph and in every task message; registered as a
worker plugin it is sent to each worker once (and to each worker that joins later: the scheduler
hands its plugins to every new worker), and tasks name it by the plugin's name. Imports Dask
(distributed): imported only by the Dask engine and, through the plugin's pickle, on the workers.
"""

from __future__ import annotations

from distributed import WorkerPlugin, get_worker

from dataclean.storage import Source


class SourcePlugin(WorkerPlugin):
    """Holds one audit's Source on every worker, under ``name`` (unregistered when the audit ends)."""

    def __init__(self, name: str, source: Source) -> None:
        self.name, self.source = name, source


def worker_source(name: str) -> Source:
    """The Source registered under ``name`` on the worker running the calling task."""
    plugin = get_worker().plugins.get(name)
    if not isinstance(plugin, SourcePlugin):
        raise LookupError(f"no dataset source {name!r} on this Dask worker")
    return plugin.source
