"""slobench's open-loop load generator vs vLLM's own `vllm bench serve` client.

Both clients drive the same stub server (`tests.support.stub_server`: first token
TTFT_S after arrival, then a token every GAP_S) at rising rates, with the same
uniformly spaced schedule. For each (client, rate):

- achieved rate: requests / (last actual send - first actual send), vs the target;
- dispatch lag p99: actual send - scheduled send;
- TTFT error p99: |TTFT measured from the *scheduled* send - TTFT_S| (open-loop, no
  coordinated omission), and the client's own TTFT figure (vLLM's counts from its
  actual send, so it hides dispatch lag).

vLLM's client runs in the vLLM venv (`--vllm-python`, default found like `slobench run`
does): its request function `async_request_openai_completions` and its pacing loop
`get_request` are imported from the installed vLLM, driven the way `vllm bench serve`
drives them (one task per request, created as `get_request` yields it).

    .venv/bin/python benchmarks/bench_loadgen_vs_vllm.py --rates 50,100,200,400,800
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from slobench.core.request import SchedRequest
from slobench.engines.http import LoadGenConfig, run_open_loop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's tests.support
from slobench.engines.vllm.launcher import find_vllm_python
from slobench.workloads.entities import CallSpec, OutputPhase, SessionSpec, Workload
from tests.support.stub_server import running_stub

TTFT_S, GAP_S, OUT_TOKENS, PROMPT = 0.020, 0.005, 8, 32

VLLM_DRIVER = r'''
import asyncio, json, sys, time
import aiohttp
from vllm.benchmarks.lib.endpoint_request_func import (RequestFuncInput,
    async_request_openai_completions)
from vllm.benchmarks.serve import get_request
from vllm.benchmarks.datasets import SampleRequest

url, rate, n, out_tokens, prompt_len = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])

async def main():
    reqs = [SampleRequest(prompt=[7] * prompt_len, prompt_len=prompt_len,
                          expected_output_len=out_tokens) for _ in range(n)]
    conn = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=conn, trust_env=True,
                                     timeout=aiohttp.ClientTimeout(total=6 * 60 * 60)) as s:
        tasks, sched = [], []
        t0 = time.perf_counter()
        i = 0
        async for req, _ in get_request(reqs, rate, burstiness=float("inf")):
            sched.append(t0 + i / rate)   # get_request paces by time.time(); same spacing
            i += 1
            inp = RequestFuncInput(prompt=req.prompt, api_url=url + "/v1/completions",
                                   prompt_len=req.prompt_len, output_len=out_tokens,
                                   model="stub", ignore_eos=True)
            tasks.append(asyncio.create_task(async_request_openai_completions(inp, s)))
        outs = await asyncio.gather(*tasks)
    print(json.dumps([{"sched": sc, "start": o.start_time, "ttft": o.ttft,
                       "ok": o.success, "tokens": o.output_tokens, "itl": o.itl}
                      for sc, o in zip(sched, outs)]))

asyncio.run(main())
'''


def _factory(session: SessionSpec, index: int, call: CallSpec, arrival: float) -> SchedRequest:
    return SchedRequest(rid=session.session_id, arrival_s=arrival,
                        prompt_tokens=call.prompt_tokens, output_tokens=call.output_tokens,
                        expected_output=call.output_tokens, ttft_slo_s=1.0,
                        phase_tpots=((1, 0.05),))


def run_slobench(url: str, rate: float, n: int) -> dict[str, float]:
    spec = CallSpec("c", PROMPT, (OutputPhase("o", OUT_TOKENS, 50.0),), 5.0)
    wl = Workload("bench", tuple(SessionSpec(i, i / rate, "b", (spec,)) for i in range(n)),
                  rate=rate)
    cfg = LoadGenConfig(urls=[url], model="stub", prompt=lambda k, _s: [7] * k,
                        send_slos=False)
    res = run_open_loop(wl, _factory, cfg)
    ok = [o for o in res.outcomes if o.status == "ok"]
    sends = np.array([o.actual_send_s for o in res.outcomes])
    lag = np.array([o.actual_send_s - o.scheduled_s for o in res.outcomes])
    ttft = np.array([o.first_token_s - o.scheduled_s for o in ok])
    return _stats(n, sends, lag, ttft, ttft, len(ok))


def run_vllm(python: str, url: str, rate: float, n: int) -> dict[str, float]:
    out = subprocess.run([python, "-c", VLLM_DRIVER, url, str(rate), str(n), str(OUT_TOKENS),
                          str(PROMPT)], capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    ok = [r for r in rows if r["ok"]]
    sends = np.array([r["start"] for r in rows])
    lag = np.array([r["start"] - r["sched"] for r in rows])
    own = np.array([r["ttft"] for r in ok])
    from_sched = np.array([r["start"] + r["ttft"] - r["sched"] for r in ok])
    return _stats(n, sends, lag, from_sched, own, len(ok))


def _stats(n: int, sends: np.ndarray, lag: np.ndarray, ttft_sched: np.ndarray,
           ttft_own: np.ndarray, ok: int) -> dict[str, float]:
    span = float(sends.max() - sends.min())
    return {"achieved_rps": (n - 1) / span if span > 0 else float("nan"),
            "lag_p99_ms": float(np.percentile(lag, 99) * 1e3),
            "ttft_err_p99_ms": float(np.percentile(np.abs(ttft_sched - TTFT_S), 99) * 1e3),
            "own_ttft_err_p99_ms": float(np.percentile(np.abs(ttft_own - TTFT_S), 99) * 1e3),
            "ok": ok}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="25,50,100,200,400,800")
    ap.add_argument("--seconds", type=float, default=4.0, help="length of each probe")
    ap.add_argument("--vllm-python", default=None)
    args = ap.parse_args()
    python = find_vllm_python(args.vllm_python)
    with running_stub(TTFT_S, GAP_S) as url:
        print("| target rps | client | achieved rps | dispatch lag p99 ms | "
              "TTFT err p99 ms (from schedule) | TTFT err p99 ms (client's own) | ok |")
        print("|---|---|---|---|---|---|---|")
        for rate in (float(r) for r in args.rates.split(",")):
            n = max(20, int(rate * args.seconds))
            clients = [("slobench", lambda r=rate, k=n: run_slobench(url, r, k))]
            if python:
                clients.append(("vllm bench", lambda r=rate, k=n: run_vllm(python, url, r, k)))
            for name, fn in clients:
                s = fn()
                print(f"| {rate:g} | {name} | {s['achieved_rps']:.1f} | {s['lag_p99_ms']:.2f} | "
                      f"{s['ttft_err_p99_ms']:.2f} | {s['own_ttft_err_p99_ms']:.2f} | "
                      f"{s['ok']}/{n} |", flush=True)
                time.sleep(0.5)


if __name__ == "__main__":
    main()
