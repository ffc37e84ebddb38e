"""The hops a real run's calls took, for its simulator twin (SPEC §10).

`first_offer_s` and `forward_s` are read from the replicas' request logs
(`step_files.read_call_hops`); `delivery_s`, a first token's way from the engine to
the client, is the client's TTFT less the engine's (both from the call's arrival), for
the calls both saw. `RunHops.for_probe` gives a twin's probe each call's own hops where
the real run probed that rate (a probe it did not run takes the nearest probed rate's,
call by call: the same sessions, prompts and tokenizer work), the medians otherwise.
Stock vLLM's replicas log their calls too (`plugin/recording.py`), so its twin takes
its own hops, without the router's; a run from before they did keeps the simulator's
instant ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from slobench.engines.sim.host import CallHops, CallKey, HostDelays
from slobench.engines.vllm.step_files import (
    offer_medians,
    read_call_hops,
    read_engine_first_tokens,
)

_KEYS = ["call", "arrival_key"]


@dataclass
class RunHops:
    """One backend's hops in a run: the medians, and per (scenario, rate) each call's."""

    medians: HostDelays = field(default_factory=HostDelays)
    probes: dict[tuple[str, float], dict[CallKey, CallHops]] = field(default_factory=dict)
    # When each probe ran on the engine's clock: (start, last finish).
    windows: dict[tuple[str, float], tuple[float, float]] = field(default_factory=dict)

    def nearest(self, scenario: str, rate: float) -> tuple[str, float] | None:
        """The probe a twin's probe at `rate` takes its calls' hops from: this rate's,
        or the nearest rate the run probed (by ratio; the higher on a tie)."""
        rates = [r for s, r in self.probes if s == scenario and r > 0]
        if not rates or rate <= 0:
            return None
        return scenario, min(rates, key=lambda r: (abs(math.log(r / rate)), -r))

    def for_probe(self, scenario: str, rate: float) -> HostDelays:
        key = self.nearest(scenario, rate)
        if key is None:
            return self.medians
        m = self.medians
        return HostDelays(m.first_offer_s, m.forward_s, m.delivery_s, self.probes[key])

    def window(self, scenario: str, rate: float) -> tuple[float, float] | None:
        key = self.nearest(scenario, rate)
        return None if key is None else self.windows.get(key)

    @property
    def calls(self) -> int:
        return sum(len(c) for c in self.probes.values())


def run_hops(steps_dir: Path, requests: pd.DataFrame | None,
             backend: str = "slos") -> RunHops:
    """`backend`'s hops (none where its replicas logged nothing): `steps_dir` is the
    backend's own folder of replica logs, `requests` the client's records."""
    hops = read_call_hops(steps_dir) if steps_dir.is_dir() else None
    if hops is None or not len(hops):
        return RunHops()
    offers = offer_medians(hops)
    calls = _client_calls(steps_dir, requests, backend, hops)
    delivered = calls["delivery_s"].dropna() if len(calls) else pd.Series(dtype=float)
    medians = HostDelays(offers["first_offer_s"], offers["forward_s"],
                         max(0.0, float(np.median(delivered))) if len(delivered) else 0.0)
    probes: dict[tuple[str, float], dict[CallKey, CallHops]] = {}
    windows: dict[tuple[str, float], tuple[float, float]] = {}
    for (scenario, rate), group in calls.groupby(["scenario", "rate"]):
        start = float(np.median(group["arrival_mono_s"] - group["scheduled_send_s"]))
        last = np.nanmax(np.append(group["finish_s"].to_numpy(float),
                                   group["scheduled_send_s"].to_numpy(float)))
        windows[(str(scenario), float(rate))] = (start, start + float(last))
    for row in calls.itertuples(index=False):
        delivery = None if math.isnan(row.delivery_s) else max(0.0, row.delivery_s)
        probes.setdefault((str(row.scenario), float(row.rate)), {})[
            (int(row.session_id), int(row.call_index))] = CallHops(
                float(row.first_offer_s), tuple(row.forwards_s), delivery)
    return RunHops(medians, probes, windows)


def run_host_delays(steps_dir: Path, requests: pd.DataFrame | None,
                    backend: str = "slos") -> HostDelays:
    """The medians of the hops `backend`'s calls took."""
    return run_hops(steps_dir, requests, backend).medians


def _client_calls(steps_dir: Path, requests: pd.DataFrame | None, backend: str,
                  hops: pd.DataFrame) -> pd.DataFrame:
    """The engine's calls joined to the client's records (scenario, rate, session, call
    index), with each call's delivery (NaN where either side saw no first token). A
    key seen twice (session 0's first call arrives at 0 in every probe) is dropped."""
    cols = ["scenario", "rate", "session_id", "call_index", "first_offer_s", "forwards_s",
            "delivery_s", "arrival_mono_s", "scheduled_send_s", "finish_s"]
    if requests is None or not len(requests):
        return pd.DataFrame(columns=cols)
    client = requests[requests["backend"] == backend]
    client = client.assign(call=client["session_id"].astype(str) + ":"
                           + client["call_index"].astype(str),
                           arrival_key=client["scheduled_send_s"].round(4))
    hops = hops.assign(arrival_key=hops["arrival_s"].round(4))
    engine = read_engine_first_tokens(steps_dir)
    engine = engine.assign(arrival_key=engine["arrival_s"].round(4))[
        [*_KEYS, "engine_ttft_s"]].drop_duplicates(_KEYS, keep=False)
    both = (client.drop_duplicates(_KEYS, keep=False)
            .merge(hops.drop(columns="arrival_s").drop_duplicates(_KEYS, keep=False),
                   on=_KEYS)
            .merge(engine, on=_KEYS, how="left"))
    if "scenario" not in both:
        both = both.assign(scenario="")
    if "rate" not in both:
        both = both.assign(rate=0.0)
    if "finish_s" not in both:
        both = both.assign(finish_s=np.nan)
    return both.assign(delivery_s=both["ttft_s"] - both["engine_ttft_s"])[cols]
