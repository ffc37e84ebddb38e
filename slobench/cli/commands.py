"""The subcommands. Each parses, calls the package, and prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from slobench.cli import option_types as ot
from slobench.cli import options as opt
from slobench.cli.run_output import run_and_report
from slobench.cli.shell import app, command_line, console


@app.command()
def scenarios(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array instead.")] = False,
) -> None:
    """List the six application scenarios with their stages and SLOs."""
    from slobench.workloads.scenario import list_scenarios, scenario_summary

    summaries = [scenario_summary(s) for s in list_scenarios()]
    if as_json:
        typer.echo(json.dumps(summaries, indent=2, default=str))
        return
    table = Table(title="slobench scenarios (SPEC §3)", show_lines=True)
    for col in ("scenario", "stages", "TTFT SLO", "TPOT SLO", "arrivals", "requests stand for"):
        table.add_column(col, overflow="fold")
    for s in summaries:
        stages = s["stages"]
        table.add_row(
            s["name"],
            "\n".join(f"{st.get('class', s['name'])}: {st['name']}" for st in stages),
            "\n".join("-" if st["ttft_slowdown"] is None else f"{st['ttft_slowdown']:g}x"
                      for st in stages),
            "\n".join(f"{st['tpot_ms']:g} ms" for st in stages),
            _arrival_text(s["arrival"]),
            _short(str(s["source"])),
        )
    console.print(table)


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _arrival_text(arrival: object) -> str:
    if isinstance(arrival, dict):
        kind = arrival.get("kind", "?")
        rest = ", ".join(f"{k}={v}" for k, v in arrival.items() if k != "kind")
        return f"{kind} ({rest})" if rest else str(kind)
    return str(arrival)


@app.command()
def run(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Option(
        "--scenario", "-s", callback=opt.SCENARIO,
        help="Scenario name, a workload TOML path, a comma list, or 'all'.")],
    engine: Annotated[str, typer.Option(
        callback=opt.ENGINE, help="sim (embedded simulator) | vllm | openai.")] = "sim",
    backends: Annotated[str | None, typer.Option(
        callback=opt.BACKENDS, help="Comma list of backends: vllm, slos, sarathi, "
                                    "vllm_spec (vLLM drafting --spec-tokens per step) "
                                    "(default vllm,slos; on --engine openai: vllm).")]
    = None,
    gpus: Annotated[int, typer.Option(callback=opt.GPUS, help="GPUs in the deployment.")] = 4,
    tp: Annotated[int, typer.Option(
        callback=opt.TP, help="Tensor-parallel degree; replicas = gpus / tp.")] = 2,
    hardware: Annotated[str, typer.Option(
        help="GPU kind for the simulator: a100, h100, h200, or one from --specs.")] = "a100",
    model: Annotated[str | None, typer.Option(
        help="Model, e.g. opt-13b, llama-3-8b (default opt-13b); --engine openai: the "
             "served model's name (default: the one the server lists).")] = None,
    profile: Annotated[str, typer.Option(
        help="Perf model: auto (paper's fitted profile when one exists, else roofline), "
             "roofline, fitted.")] = "auto",
    rates: Annotated[str | None, typer.Option(
        callback=opt.RATES,
        help="Fixed rates (sessions/s, comma list); skips the capacity search.")] = None,
    requests: Annotated[int, typer.Option(callback=opt.REQUESTS, help="Sessions per probe.")]
    = 1000,
    seed: Annotated[int, typer.Option(callback=opt.SEED, help="Workload seed.")] = 0,
    out: Annotated[Path | None, typer.Option(
        help="Output folder (default results/<run-id>); an earlier run there is refused "
             "unless --force.")] = None,
    force: Annotated[bool, typer.Option(
        help="Replace the run in --out (its files are removed first).")] = False,
    threshold: Annotated[float, typer.Option(
        callback=opt.THRESHOLD, help="Attainment the capacity must hold.")] = 0.90,
    tolerance: Annotated[float, typer.Option(
        callback=opt.TOLERANCE, help="Relative tolerance of the search.")] = 0.05,
    min_rate: Annotated[float, typer.Option(
        callback=opt.MIN_RATE,
        help="Lowest rate the capacity search probes; a backend failing there has "
             "capacity 0.")] = 1e-3,
    failure_budget: Annotated[float, typer.Option(
        callback=opt.FAILURE_BUDGET,
        help="A probe whose errors and timeouts exceed this share of its calls ends the "
             "search for its scenario and backend (exit 1). --paper: 1 unless given "
             "(the simulator's only failures are calls an overloaded probe left "
             "unfinished).")] = 0.5,
    routing: Annotated[str, typer.Option(
        callback=opt.ROUTING, help="SLOs-Serve's first offer in the simulator: round_robin "
        "(the paper's) | least_loaded (fewest requests in flight).")
    ] = "round_robin",
    output_lengths: Annotated[str, typer.Option(
        callback=opt.OUTPUT_LENGTHS,
        help="known (the paper's assumption) | unknown (plan on a predicted length).")]
    = "known",
    slo_scale: Annotated[float | None, typer.Option(
        callback=opt.SLO_SCALE,
        help="Multiply the paper's TPOT SLOs by this instead of calibrating.")] = None,
    max_context: Annotated[int, typer.Option(
        callback=opt.MAX_CONTEXT,
        help="Requests longer than this (prompt + output) are dropped and counted.")] = 16384,
    trace: Annotated[Path | None, typer.Option(
        callback=opt.TRACE,
        help="Azure LLM trace CSV to replay (timestamps and lengths) instead of the "
             "scenario's arrival process.")] = None,
    best_effort: Annotated[bool | None, typer.Option(
        "--best-effort/--no-best-effort",
        help="slos: serve requests admission cannot fit as best-effort on their last "
             "replica (else reject them). Default: on in the simulator (the paper's "
             "setting), off on a real engine, where best-effort work lengthens every "
             "step (README: real engine).", show_default=False)] = None,
    spec_tokens: Annotated[int, typer.Option(
        callback=opt.SPEC_TOKENS,
        help="Speculative decoding: draft tokens per step (0: off). slos gives each TPOT "
             "tier its own draft length (SPEC §7); --engine vllm runs vLLM's n-gram "
             "drafter for every backend; in the simulator vllm and sarathi do not draft, "
             "backend vllm_spec drafts this many per decode step).")] = 0,
    spec_alpha: Annotated[float, typer.Option(
        callback=opt.SPEC_ALPHA,
        help="Draft acceptance rate slos plans with (and the simulator draws).")] = 0.7,
    paper: Annotated[bool, typer.Option(
        help="Each scenario on the SLOs-Serve paper's own deployment (its file's [paper] "
             "table: model, GPUs, tp, OPT-125M drafting) against vllm, vllm_spec (vLLM "
             "with speculative decoding) and sarathi; prints the gain over each and over "
             "the best, and their geometric means. Sets --model, --hardware, --gpus, "
             "--tp, --backends, --spec-tokens, --spec-alpha, --profile (giving one too is "
             "refused); simulator only.")] = False,
    report: Annotated[bool, typer.Option(help="Write report.html at the end.")] = True,
    url: Annotated[str | None, typer.Option(
        callback=opt.URL,
        help="--engine openai: base URL of an OpenAI-compatible server (no /v1).")] = None,
    replicas: Annotated[int, typer.Option(
        callback=opt.REPLICAS,
        help="--engine vllm on CPU: vLLM servers to start (cores split between them).")] = 1,
    vllm_python: Annotated[str | None, typer.Option(
        help="Python with vLLM installed (default: $SLOBENCH_VLLM_PYTHON, this Python, "
             "./.venv-vllm, ~/vllm-venv).")] = None,
    vllm_arg: Annotated[list[str] | None, typer.Option(
        help="Extra argument for `vllm serve` (repeat; e.g. --vllm-arg=--max-num-seqs=64).")]
    = None,
    startup_timeout: Annotated[float, typer.Option(
        callback=opt.STARTUP_TIMEOUT, help="Seconds to wait for a vLLM server's /health.")]
    = 900.0,
    request_timeout: Annotated[float, typer.Option(
        callback=opt.REQUEST_TIMEOUT,
        help="Seconds a real request (calibration's too) may take before it counts as "
             "timeout.")] = 300.0,
    twin: Annotated[bool, typer.Option(
        help="--engine vllm: afterwards replay the run on the simulator with a profile "
             "fitted from its logged steps, and write fidelity.parquet and the admission "
             "audit (SPEC §10; `slobench fidelity RUN_DIR` does it later).")] = False,
    min_probe_s: Annotated[float, typer.Option(
        callback=opt.MIN_PROBE_S,
        help="Probes last at least this long: more sessions than --requests at high "
             "rates, so a probe reaches a steady state.")] = 0.0,
    warm_requests: Annotated[int, typer.Option(
        callback=opt.WARM_REQUESTS,
        help="Real engines: uncounted short calls per server through the whole path "
             "before each probe.")] = 4,
    stall_threshold: Annotated[float, typer.Option(
        callback=opt.STALL_THRESHOLD,
        help="Real engines: a load-generator stall longer than this (s) spoils the probe, "
             "which is run again (the stalled one is kept in stalled_requests.parquet).")]
    = 0.25,
    stall_reruns: Annotated[int, typer.Option(
        callback=opt.STALL_RERUNS,
        help="Real engines: how many times a stalled probe may be run again.")] = 2,
    record_steps: Annotated[bool, typer.Option(
        help="--engine vllm: stock vLLM replicas log their steps through a subclass of "
             "vLLM's scheduler that changes no decision (needed for --twin); "
             "--no-record-steps runs vLLM's scheduler class itself.")] = True,
    router: Annotated[str, typer.Option(
        callback=opt.ROUTER,
        help="--engine vllm: auto puts SLOs-Serve's router in front of 2+ replicas, "
             "one replica is called straight (a router of one routes nothing and costs "
             "every call a hop); always puts it in front of one too.")] = "auto",
    workers: Annotated[int, typer.Option(
        min=1, help="--engine sim: run probes in this many local processes (the (scenario, "
                    "backend) searches at once; results identical to a serial run); with "
                    "--ray-address, the most probes in flight on the cluster.")] = 1,
    ray_address: Annotated[str | None, typer.Option(
        help="A Ray cluster, auto or HOST:PORT: --engine sim runs its probes there; "
             "--engine vllm starts its replicas there, one placement-group bundle of --tp "
             "GPUs each.")] = None,
    api_key: Annotated[str | None, typer.Option(
        callback=opt.API_KEY, show_default=False,
        help="Real engines: sent as 'Authorization: Bearer KEY' (default $OPENAI_API_KEY); "
             "never written to the run's files.")] = None,
    header: Annotated[list[str] | None, typer.Option(
        callback=opt.HEADER,
        help="Real engines: an HTTP header NAME:VALUE sent with every call (repeat); "
             "only its name is written to run.json.")] = None,
    endpoint: Annotated[str, typer.Option(
        callback=opt.ENDPOINT,
        help="completions (/v1/completions) | chat (/v1/chat/completions, streamed, "
             "tokens from usage).")] = "completions",
    max_concurrency: Annotated[int | None, typer.Option(
        callback=opt.MAX_CONCURRENCY,
        help="Real engines: at most this many calls in flight (later ones wait; TTFT "
             "still counts from the scheduled time).")] = None,
    dataset: Annotated[str | None, typer.Option(
        callback=opt.DATASET,
        help="Real engines: prompts from a file, sharegpt:PATH (ShareGPT JSON) or "
             "jsonl:PATH ({\"prompt\": ..., \"output_tokens\": N} per line); the "
             "scenario's arrivals and SLOs still apply.")] = None,
    tokenizer: Annotated[str | None, typer.Option(
        callback=opt.TOKENIZER,
        help="--dataset: the model folder (tokenizer.json) that counts prompt tokens "
             "(default: the server's /tokenize).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the headline rows as JSON on stdout (the rest on stderr).")]
    = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress or tables: only problems and the results "
                              "folder.")] = False,
    specs: ot.Specs = None,
) -> None:
    """Run scenarios on both backends: a capacity search, or fixed --rates.

    --engine vllm starts real vLLM servers (--model tiny: a tiny random-weight Llama
    that runs on CPU); --engine openai measures a server you run (--url). Exit status:
    0 done, 1 a server failed or the failure budget was spent (what was measured is on
    disk), 2 bad input (nothing started), 130 interrupted.
    """
    from slobench.campaign.campaign import default_run_id, expand_scenarios
    from slobench.campaign.config import RunConfig
    from slobench.campaign.executors import check_executor_options
    from slobench.campaign.writer import fresh_run_folder, prepare_run_folder

    if paper:
        from slobench.cli.paper_output import check_paper_options, paper_failure_budget

        check_paper_options(ctx)
        failure_budget = paper_failure_budget(ctx, failure_budget)
    from slobench.perf.specs_file import use_specs_file

    use_specs_file(specs)              # its hardware, models and profiles, by name
    opt.check_deployment(gpus, tp)
    backends = backends or opt.default_backends(engine)
    model = model or ("" if engine == "openai" else "opt-13b")
    opt.check_run(engine, backends, url, twin, dataset)
    opt.check_spec_backends(backends, spec_tokens)
    check_executor_options(engine, workers, ray_address)
    names = opt.csv(scenario)
    folder = out or fresh_run_folder(Path("results") / default_run_id(expand_scenarios(names)))
    cfg = RunConfig.build(
        scenarios=names, backends=opt.csv(backends), engine=engine, gpus=gpus, tp=tp,
        hardware=hardware, model=model, profile=profile,
        rates=opt.parse_rates(rates) if rates else None, requests=requests, seed=seed,
        out=prepare_run_folder(folder, force), threshold=threshold, rel_tol=tolerance,
        min_rate=min_rate, routing=routing, spec_tokens=spec_tokens, spec_alpha=spec_alpha,
        output_lengths=output_lengths, slo_scale=slo_scale, max_context=max_context,
        trace=trace, best_effort=best_effort, command=command_line(), url=url,
        vllm_python=vllm_python, vllm_args=list(vllm_arg or []), cpu_replicas=replicas,
        startup_timeout_s=startup_timeout, request_timeout_s=request_timeout, twin=twin,
        min_probe_s=min_probe_s, warm_requests=warm_requests,
        stall_threshold_s=stall_threshold, max_stall_reruns=stall_reruns,
        record_steps=record_steps, router=router, failure_budget=failure_budget, workers=workers,
        ray_address=ray_address, endpoint=endpoint, max_concurrency=max_concurrency,
        http_headers=opt.http_headers(api_key, header), dataset=dataset,
        tokenizer=tokenizer)
    if paper:
        from slobench.cli.paper_output import run_paper_and_report

        return run_paper_and_report(cfg, report, force, as_json=as_json, quiet=quiet)
    run_and_report(cfg, report, as_json=as_json, quiet=quiet)
