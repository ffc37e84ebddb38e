"""Both backends get the same probe schedule: rates, sessions per probe (duration-sized
ones included) and the same seeded workload."""

from __future__ import annotations

from pathlib import Path

from slobench.campaign.campaign import probe_sessions, run_on_engine
from slobench.campaign.config import RunConfig


def test_both_backends_get_the_same_probes(tmp_path: Path, sim_backed_engine: type) -> None:
    class RecordingEngine(sim_backed_engine):
        def __init__(self) -> None:
            super().__init__()
            self.schedule: dict[str, list[tuple[float, int, tuple]]] = {}

        def probe(self, backend, workload, factory, tiers):
            starts = tuple(round(s.start_s, 9) for s in workload.sessions[:5])
            self.schedule.setdefault(backend, []).append(
                (round(workload.rate, 9), len(workload.sessions), starts))
            return super().probe(backend, workload, factory, tiers)

    engine = RecordingEngine()
    cfg = RunConfig.build(scenarios=["coding"], backends=["vllm", "slos"], engine="vllm",
                    gpus=2, tp=1, rates=[0.5, 2.0, 16.0], requests=20, min_probe_s=3.0,
                    out=tmp_path / "run")
    run_on_engine(cfg, engine)  # type: ignore[arg-type]
    vllm, slos = engine.schedule["vllm"], engine.schedule["slos"]
    assert vllm == slos
    # Duration sizing: 16/s for 3 s needs 48 sessions, more than --requests.
    sizes = [n for _, n, _ in vllm]
    assert sizes[-1] >= 40 and sizes[0] <= 20, sizes


def test_probe_sessions_grow_with_rate_only_past_the_minimum_duration() -> None:
    cfg = RunConfig.build(scenarios=["coding"], requests=30, min_probe_s=10.0)
    assert [probe_sessions(cfg, r) for r in (0.5, 3.0, 4.0)] == [30, 30, 40]
