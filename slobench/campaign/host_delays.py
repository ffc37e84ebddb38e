"""The hops a real run's SLOs-Serve calls took, for its simulator twin (SPEC §10).

`first_offer_s` and `forward_s` are read from the replicas' request logs
(`step_files.read_offer_delays`); `delivery_s`, a first token's way from the engine to
the client, is the median of the client's TTFT less the engine's (both from the call's
arrival), over the calls both saw. Stock vLLM's replicas log their calls too
(`plugin/recording.py`), so its twin takes its own hops, without the router's; a run
from before they did keeps the simulator's instant ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from slobench.engines.sim.host import HostDelays
from slobench.engines.vllm.step_files import read_engine_first_tokens, read_offer_delays


def run_host_delays(steps_dir: Path, requests: pd.DataFrame | None,
                    backend: str = "slos") -> HostDelays:
    """The medians of the hops `backend`'s calls took (none where its replicas logged
    nothing): `steps_dir` is the backend's own folder of replica logs."""
    offers = read_offer_delays(steps_dir) if steps_dir.is_dir() else None
    if offers is None:
        return HostDelays()
    return HostDelays(offers["first_offer_s"], offers["forward_s"],
                      _delivery_s(steps_dir, requests, backend))


def _delivery_s(steps_dir: Path, requests: pd.DataFrame | None, backend: str) -> float:
    engine = read_engine_first_tokens(steps_dir)
    if requests is None or not len(engine):
        return 0.0
    client = requests[(requests["backend"] == backend) & requests["ttft_s"].notna()]
    client = client.assign(call=client["session_id"].astype(str) + ":"
                           + client["call_index"].astype(str),
                           arrival_key=client["scheduled_send_s"].round(4))
    engine = engine.assign(arrival_key=engine["arrival_s"].round(4))
    keys = ["call", "arrival_key"]
    # A key seen twice (session 0's first call arrives at 0 in every probe) is dropped.
    both = (client.drop_duplicates(keys, keep=False)
            .merge(engine.drop_duplicates(keys, keep=False), on=keys))
    if not len(both):
        return 0.0
    return max(0.0, float(np.median(both["ttft_s"] - both["engine_ttft_s"])))
