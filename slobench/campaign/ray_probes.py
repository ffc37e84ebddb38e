"""Probes on a Ray cluster (`--ray-address auto|HOST:PORT`): one Ray task per probe,
one CPU each; `--workers` caps how many are in flight (default: the cluster's CPUs)."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
from typing import Any

from slobench.campaign.executors import ProbeDone, ProbeTask, run_probe_task
from slobench.engines.vllm.ray_cluster import cluster_resource, connect


class RayPool:
    kind = "ray"

    def __init__(self, address: str, workers: int | None) -> None:
        self._ray = connect(address)
        self.slots = workers or max(1, int(cluster_resource(self._ray, "CPU")))
        self._remote = self._ray.remote(num_cpus=1, max_retries=0)(run_probe_task)
        self._refs: list[Any] = []

    def submit(self, task: ProbeTask) -> cf.Future[ProbeDone]:
        ref = self._remote.remote(task)
        self._refs.append(ref)
        return ref.future()

    def close(self) -> None:
        """Cancel what is still running (the cluster stays up: it is not ours)."""
        for ref in self._refs:
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)
        self._refs = []
        with contextlib.suppress(Exception):
            self._ray.shutdown()
