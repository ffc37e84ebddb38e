"""Real replicas on a Ray cluster: one placement-group bundle per replica.

Each replica is a `ReplicaHost` actor in its own bundle (`tp` GPUs and one CPU, which
Ray keeps on one node) that runs the very `vllm serve` command the local launcher
builds, through the local launcher (`VllmServers` for one replica): the same process
group, parent-death signal and watchdog, so a replica dies with its actor, and the
actor dies with the driver (Ray ends a dead driver's actors). Ray gives the actor its
GPUs (CUDA_VISIBLE_DEVICES); the server binds the node's address, which the router and
the load generator on the head reach.

A node need not share the head's disks: the server's log and the plugin's step and
overhead files are written in a folder on the node and copied, by increments, to the
head's run folder (`sync_files`, before each probe's files are read, and at the end).
The plugin's configuration travels inside its environment already.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import slobench
from slobench.core.errors import EngineError, input_error
from slobench.engines.vllm.build import gpu_inventory, gpu_models
from slobench.engines.vllm.launcher import _LIVE, _LIVE_LOCK, LaunchSpec, VllmServers
from slobench.engines.vllm.plugin.steplog import ENV_OVERHEAD_DIR
from slobench.engines.vllm.ray_cluster import cluster_resource, connect


class ReplicaHost:
    """A Ray actor serving replica `index` of `spec` on the node it was placed on."""

    def __init__(self, spec: LaunchSpec, index: int) -> None:
        import ray

        self.local = Path(tempfile.mkdtemp(prefix=f"slobench-replica-{index}-"))
        env = dict(spec.env)
        self.head_steps = env.get(ENV_OVERHEAD_DIR)
        if self.head_steps:
            env[ENV_OVERHEAD_DIR] = str(self.local / "steps")
        # The plugin is imported from the copy of slobench this node was given.
        here = str(Path(slobench.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
        self.gpus = [str(g) for g in ray.get_gpu_ids()]
        node = ray.util.get_node_ip_address()
        self.spec = replace(spec, replicas=1, first_replica=index, host=node, env=env,
                            gpu_sets=[self.gpus] if self.gpus else [],
                            log_dir=self.local / "logs", ray_address=None)
        self.servers = VllmServers(self.spec)
        self.sent: dict[str, int] = {}

    def start(self) -> dict[str, Any]:
        self.servers.start()            # raises EngineError with the log's tail
        srv = self.servers.servers[0]
        models = sorted(set(gpu_models(self.gpus, gpu_inventory())))
        return {"url": srv.url, "node": self.spec.host, "gpus": self.gpus,
                "gpu_model": ", ".join(models), "pid": srv.proc.pid}

    def dead(self) -> str | None:
        return self.servers.dead()

    def files(self) -> list[tuple[str, str, int, bytes]]:
        """(kind, relative path, offset, bytes) of what was written since the last call:
        kind `log` for the server's log, `steps` for the plugin's files."""
        out = []
        for kind, root in (("log", self.local / "logs"), ("steps", self.local / "steps")):
            for path in sorted(root.rglob("*")) if root.is_dir() else []:
                if not path.is_file():
                    continue
                key = f"{kind}/{path.relative_to(root)}"
                data = path.read_bytes()
                offset = self.sent.get(key, 0)
                offset = 0 if len(data) < offset else offset    # rewritten: send it all
                if len(data) > offset or key not in self.sent:
                    out.append((kind, str(path.relative_to(root)), offset, data[offset:]))
                    self.sent[key] = len(data)
        return out

    def stop(self) -> None:
        self.servers.stop()


class RayServers(VllmServers):
    """`VllmServers` whose replicas are Ray actors in one placement group."""

    def __init__(self, spec: LaunchSpec) -> None:
        super().__init__(spec)
        self.actors: list[Any] = []
        self.placements: list[dict[str, Any]] = []
        self.group: Any = None
        self._dead_refs: dict[int, Any] = {}
        self._dead_msg: str | None = None

    @property
    def urls(self) -> list[str]:
        return [p["url"] for p in self.placements]

    @property
    def logs(self) -> list[Path]:
        return [self.spec.log_dir / f"server-{i}.log" for i in range(len(self.placements))]

    def describe(self) -> dict[str, object]:
        models = sorted({p["gpu_model"] for p in self.placements if p["gpu_model"]})
        return {"server_urls": self.urls, "ray_address": self.spec.ray_address,
                "ray_replicas": self.placements, "gpu_model": ", ".join(models) or None,
                "gpu_sets": [p["gpus"] for p in self.placements]}

    def start(self) -> None:
        ray = connect(str(self.spec.ray_address))
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        sp = self.spec
        have = cluster_resource(ray, "GPU")
        if have < sp.replicas * sp.tp:
            raise input_error("--gpus", None, f"asks for {sp.replicas * sp.tp} GPUs but the "
                              f"Ray cluster at {sp.ray_address} has {have:g}")
        with _LIVE_LOCK:
            _LIVE.add(self)
        self.group = placement_group([{"GPU": sp.tp, "CPU": 1}] * sp.replicas, strategy="PACK")
        ready, _ = ray.wait([self.group.ready()], timeout=sp.startup_timeout_s)
        if not ready:
            raise EngineError(f"the Ray cluster could not place {sp.replicas} replicas of "
                              f"{sp.tp} GPU(s) each within {sp.startup_timeout_s:.0f} s")
        host = ray.remote(ReplicaHost)
        for i in range(sp.replicas):
            where = PlacementGroupSchedulingStrategy(placement_group=self.group,
                                                     placement_group_bundle_index=i)
            self.actors.append(host.options(num_cpus=1, num_gpus=sp.tp, max_restarts=0,
                                            scheduling_strategy=where).remote(sp, i))
        try:
            self.placements = ray.get([a.start.remote() for a in self.actors],
                                      timeout=sp.startup_timeout_s + 60)
        except Exception as exc:  # a task's error arrives wrapped by Ray
            self.sync_files()
            raise EngineError(f"a vLLM replica on Ray failed to start: {_cause(exc)}") from None
        self.sync_files()          # what the replicas wrote while starting (engine files)

    def dead(self) -> str | None:
        """Non-blocking (the load generator asks every 0.5 s): the answer of the last
        check each actor finished, and a new check sent."""
        if self._dead_msg is not None or not self.actors:
            return self._dead_msg
        import ray

        for i, actor in enumerate(self.actors):
            ref = self._dead_refs.get(i)
            if ref is not None:
                done, _ = ray.wait([ref], timeout=0)
                if not done:
                    continue
                try:
                    msg = ray.get(ref)
                except Exception as exc:  # the actor itself is gone
                    msg = f"vLLM replica {i}'s Ray actor died: {_cause(exc)}"
                if msg:
                    self._dead_msg = msg
                    return msg
            self._dead_refs[i] = actor.dead.remote()
        return None

    def sync_files(self) -> None:
        if not self.actors:
            return
        import ray

        steps = self.spec.env.get(ENV_OVERHEAD_DIR)
        for actor in self.actors:
            try:
                chunks = ray.get(actor.files.remote(), timeout=60)
            except Exception:  # a dead actor has nothing more to give
                continue
            for kind, rel, offset, data in chunks:
                if kind == "steps" and not steps:
                    continue
                root = self.spec.log_dir if kind == "log" else Path(str(steps))
                _write_at(root / rel, offset, data)

    def stop(self) -> None:
        """Stop every replica (its server first, then the actor) and free the GPUs."""
        if self.actors:
            import ray

            self.sync_files()
            ray.wait([a.stop.remote() for a in self.actors], num_returns=len(self.actors),
                     timeout=self.spec.stop_grace_s + 10)
            for actor in self.actors:
                ray.kill(actor)
            self.actors = []
        if self.group is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(self.group)
            self.group = None
        with _LIVE_LOCK:
            _LIVE.discard(self)


def _write_at(path: Path, offset: int, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("r+b" if path.exists() and offset else "wb") as fh:
        fh.seek(offset)
        fh.write(data)
        fh.truncate()


def _cause(exc: BaseException) -> str:
    """The error inside Ray's wrapper (a task's exception arrives as its `cause`)."""
    inner = getattr(exc, "cause", None) or exc
    return str(inner).strip() or type(inner).__name__
