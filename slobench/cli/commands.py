"""The subcommands. Each parses, calls the package, and prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from slobench.cli.app import app, command_line, console, err_console
from slobench.engines.errors import EngineError
from slobench.errors import input_error


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


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


class _RichProgress:
    """Shows the capacity search: scenario, backend, rate being probed, attainment."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = None
        self.last = ""

    def start(self, scenario: str, backend: str) -> None:
        self.last = ""
        self.task = self.progress.add_task(f"{scenario} / {backend}", total=None, status="")

    def probing(self, scenario: str, backend: str, rate: float) -> None:
        assert self.task is not None
        self.progress.update(self.task, status=f"probing {rate:.3g}/s … {self.last}")

    def probe(self, scenario: str, backend: str, rate: float, attainment: float) -> None:
        assert self.task is not None
        self.last = f"(last: {rate:.3g}/s → {attainment:.1%})"
        self.progress.update(self.task, advance=1,
                             status=f"rate {rate:.3g}/s → attainment {attainment:.1%}")

    def done(self, scenario: str, backend: str, capacity: float | None) -> None:
        assert self.task is not None
        text = "done" if capacity is None else f"capacity {capacity:.3g} sessions/s"
        self.progress.update(self.task, status=text, total=1, completed=1)


@app.command()
def run(
    scenario: Annotated[str, typer.Option(
        "--scenario", "-s", help="Scenario name, a workload TOML path, a comma list, or 'all'.")],
    engine: Annotated[str, typer.Option(help="sim (embedded simulator) | vllm | openai.")] = "sim",
    backends: Annotated[str, typer.Option(help="Comma list of backends: vllm, slos, sarathi.")]
    = "vllm,slos",
    gpus: Annotated[int, typer.Option(help="GPUs in the deployment.")] = 4,
    tp: Annotated[int, typer.Option(help="Tensor-parallel degree; replicas = gpus / tp.")] = 2,
    hardware: Annotated[str, typer.Option(help="GPU kind for the simulator: a100, h100, h200.")]
    = "a100",
    model: Annotated[str, typer.Option(help="Model, e.g. opt-13b, llama-3-8b.")] = "opt-13b",
    profile: Annotated[str, typer.Option(
        help="Perf model: auto (paper's fitted profile when one exists, else roofline), "
             "roofline, fitted.")] = "auto",
    rates: Annotated[str | None, typer.Option(
        help="Fixed rates (sessions/s, comma list); skips the capacity search.")] = None,
    requests: Annotated[int, typer.Option(help="Sessions per probe.")] = 1000,
    seed: Annotated[int, typer.Option(help="Workload seed.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Output folder (default results/<run-id>).")]
    = None,
    threshold: Annotated[float, typer.Option(help="Attainment the capacity must hold.")] = 0.90,
    tolerance: Annotated[float, typer.Option(help="Relative tolerance of the search.")] = 0.05,
    min_rate: Annotated[float, typer.Option(
        help="Lowest rate the capacity search probes; a backend failing there has "
             "capacity 0.")] = 1e-3,
    routing: Annotated[str, typer.Option(help="round_robin | least_loaded.")] = "round_robin",
    output_lengths: Annotated[str, typer.Option(
        help="known (the paper's assumption) | unknown (plan on a predicted length).")]
    = "known",
    slo_scale: Annotated[float | None, typer.Option(
        help="Multiply the paper's TPOT SLOs by this instead of calibrating.")] = None,
    max_context: Annotated[int, typer.Option(
        help="Requests longer than this (prompt + output) are dropped and counted.")] = 16384,
    trace: Annotated[Path | None, typer.Option(
        help="Azure LLM trace CSV to replay (timestamps and lengths) instead of the "
             "scenario's arrival process.")] = None,
    best_effort: Annotated[bool, typer.Option(
        help="slos: serve requests admission cannot fit as best-effort on their last "
             "replica (else reject them).")] = True,
    spec_tokens: Annotated[int, typer.Option(
        help="Speculative decoding: draft tokens per step (0: off). slos gives each TPOT "
             "tier its own draft length (SPEC §7); --engine vllm runs vLLM's n-gram "
             "drafter for every backend (the simulator's vllm and sarathi policies do "
             "not draft).")] = 0,
    spec_alpha: Annotated[float, typer.Option(
        help="Draft acceptance rate slos plans with (and the simulator draws).")] = 0.7,
    report: Annotated[bool, typer.Option(help="Write report.html at the end.")] = True,
    url: Annotated[str | None, typer.Option(
        help="--engine openai: base URL of an OpenAI-compatible server (no /v1).")] = None,
    replicas: Annotated[int, typer.Option(
        help="--engine vllm on CPU: vLLM servers to start (cores split between them).")] = 1,
    vllm_python: Annotated[str | None, typer.Option(
        help="Python with vLLM installed (default: $SLOBENCH_VLLM_PYTHON, this Python, "
             "./.venv-vllm, ~/vllm-venv).")] = None,
    vllm_arg: Annotated[list[str] | None, typer.Option(
        help="Extra argument for `vllm serve` (repeat; e.g. --vllm-arg=--max-num-seqs=64).")]
    = None,
    startup_timeout: Annotated[float, typer.Option(
        help="Seconds to wait for a vLLM server's /health.")] = 900.0,
    request_timeout: Annotated[float, typer.Option(
        help="Seconds a real request may take before it counts as timeout.")] = 300.0,
    twin: Annotated[bool, typer.Option(
        help="--engine vllm: afterwards replay the run on the simulator with a profile "
             "fitted from its logged steps, and write fidelity.parquet and the admission "
             "audit (SPEC §10; `slobench fidelity RUN_DIR` does it later).")] = False,
    min_probe_s: Annotated[float, typer.Option(
        help="Probes last at least this long: more sessions than --requests at high "
             "rates, so a probe reaches a steady state.")] = 0.0,
    warm_requests: Annotated[int, typer.Option(
        help="Real engines: uncounted short calls per server through the whole path "
             "before each probe.")] = 4,
    stall_threshold: Annotated[float, typer.Option(
        help="Real engines: a load-generator stall longer than this (s) spoils the probe, "
             "which is run again (the stalled one is kept in stalled_requests.parquet).")]
    = 0.25,
    stall_reruns: Annotated[int, typer.Option(
        help="Real engines: how many times a stalled probe may be run again.")] = 2,
    record_steps: Annotated[bool, typer.Option(
        help="--engine vllm: stock vLLM replicas log their steps through a subclass of "
             "vLLM's scheduler that changes no decision (needed for --twin); "
             "--no-record-steps runs vLLM's scheduler class itself.")] = True,
) -> None:
    """Run scenarios on both backends: a capacity search, or fixed --rates.

    --engine vllm starts real vLLM servers (--model tiny: a tiny random-weight Llama
    that runs on CPU); --engine openai measures a server you run (--url).
    """
    from slobench.runner.campaign import run_campaign
    from slobench.runner.config import RunConfig
    from slobench.runner.report_step import print_final_table, write_report_if_possible

    rate_list = None
    if rates:
        try:
            rate_list = [float(r) for r in _csv(rates)]
        except ValueError:
            raise input_error("--rates", None, f"expected numbers, got {rates!r}") from None
    cfg = RunConfig(
        scenarios=_csv(scenario), backends=_csv(backends), engine=engine, gpus=gpus, tp=tp,
        hardware=hardware, model=model, profile=profile, rates=rate_list, requests=requests,
        seed=seed, out=out, threshold=threshold, rel_tol=tolerance, min_rate=min_rate,
        routing=routing, spec_tokens=spec_tokens, spec_alpha=spec_alpha,
        output_lengths=output_lengths, slo_scale=slo_scale, max_context=max_context,
        trace=trace, best_effort=best_effort, command=command_line(), url=url,
        vllm_python=vllm_python,
        vllm_args=list(vllm_arg or []), cpu_replicas=replicas,
        startup_timeout_s=startup_timeout, request_timeout_s=request_timeout, twin=twin,
        min_probe_s=min_probe_s, warm_requests=warm_requests,
        stall_threshold_s=stall_threshold, max_stall_reruns=stall_reruns,
        record_steps=record_steps)
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
               TimeElapsedColumn()]
    writer = None
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            writer = run_campaign(cfg, _RichProgress(bar))
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted:[/] results gathered so far are on disk")
        raise typer.Exit(130) from None
    except EngineError as exc:
        err_console.print(f"[bold red]engine failed:[/] {exc}", highlight=False,
                          soft_wrap=True)
        err_console.print("results gathered so far are on disk")
        raise typer.Exit(1) from None
    print_final_table(writer, console)
    if report:
        write_report_if_possible(writer, console)
    if twin:
        from slobench.cli.instrument_commands import twin_and_report

        twin_and_report(writer.out_dir)
    console.print(f"results: [bold]{writer.out_dir}[/]")


@app.command()
def serve(
    backend: Annotated[str, typer.Option(
        help="slos (SLOs-Serve scheduler in every replica, router in front) | vllm (stock).")]
    = "slos",
    model: Annotated[str, typer.Option(help="Model to serve; 'tiny' for the tiny test model.")]
    = "tiny",
    replicas: Annotated[int, typer.Option(help="On CPU: vLLM servers to start.")] = 1,
    gpus: Annotated[int | None, typer.Option(help="On GPUs: GPUs to use (replicas = gpus/tp).")]
    = None,
    tp: Annotated[int, typer.Option(help="Tensor-parallel degree per replica (GPUs).")] = 1,
    port: Annotated[int, typer.Option(help="Port of the router (slos).")] = 8000,
    host: Annotated[str, typer.Option(help="Address the router binds (slos).")] = "127.0.0.1",
    slo_scale: Annotated[float | None, typer.Option(
        help="Recorded with the calibration (the plugin takes SLOs from each request).")]
    = None,
    best_effort: Annotated[bool, typer.Option(
        help="Keep requests no replica admits as best-effort instead of rejecting them.")]
    = True,
    out: Annotated[Path, typer.Option(help="Folder for server logs and the overhead files.")]
    = Path("results/serve"),
    vllm_python: Annotated[str | None, typer.Option(help="Python with vLLM installed.")] = None,
    vllm_arg: Annotated[list[str] | None, typer.Option(help="Extra `vllm serve` argument.")]
    = None,
    startup_timeout: Annotated[float, typer.Option(help="Seconds to wait for /health.")]
    = 900.0,
) -> None:
    """Start replicas (and, for slos, the router) and serve until Ctrl-C.

    slos: the engine is calibrated first (SPEC §5) on stock replicas, which are then
    restarted with the SLOs-Serve scheduler (`--scheduler-cls`) and put behind the
    router on --host:--port. Clients send their SLOs per request in `vllm_xargs`
    (ttft_slo_s, tpot_phase_starts, tpot_slos_s, expected_output_tokens); a request
    without one is served best-effort.
    """
    import time

    from slobench.engines.real import RealEngine
    from slobench.sched.slos.policy import SlosConfig

    if backend not in ("slos", "vllm"):
        raise input_error("--backend", None, f"choose slos or vllm, got {backend!r}")
    engine = RealEngine("vllm", model, out, vllm_python=vllm_python,
                        vllm_args=list(vllm_arg or []), replicas=replicas,
                        gpus=gpus or tp, tp=tp, startup_timeout_s=startup_timeout)
    engine.router_host, engine.router_port = host, port
    engine.slos_config = SlosConfig.for_real_engine(best_effort=best_effort)
    try:
        with engine:
            if backend == "slos":
                console.print("calibrating on stock vLLM ...")
                engine.calibrate(slo_scale)
                engine.use_backend("slos")
            console.print(f"serving [bold]{backend}[/] ({engine.served_model}): "
                          + ", ".join(engine.urls) + "  (Ctrl-C stops)")
            while True:
                time.sleep(1.0)
                if (msg := engine.dead()) is not None:
                    raise EngineError(msg)
    except KeyboardInterrupt:
        console.print("stopped")
    except EngineError as exc:
        err_console.print(f"[bold red]engine failed:[/] {exc}", highlight=False,
                          soft_wrap=True)
        raise typer.Exit(1) from None


@app.command("tiny-model")
def tiny_model(
    folder: Annotated[Path, typer.Argument(help="Folder to write the model into.")],
) -> None:
    """Write a tiny Llama model folder (config + tokenizer) for `vllm serve --load-format
    dummy`; `run --model tiny` makes one on demand in ~/.cache/slobench/tiny-model."""
    from slobench.engines.tiny_model import write_tiny_model

    console.print(f"wrote {write_tiny_model(folder)}")


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run folders; deltas are against the first.")],
    out: Annotated[Path | None, typer.Option(help="Write a self-contained HTML here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
) -> None:
    """Compare several runs side by side (capacity, gains, p99s, overhead)."""
    from slobench.report.compare import compare_runs, render_compare, write_compare_html
    from slobench.report.run_dir import load_run

    loaded = [load_run(p) for p in runs]
    frame = compare_runs(runs)
    if as_json:
        typer.echo(frame.to_json(orient="records", indent=2))
    else:
        render_compare(frame, console)
    if out:
        write_compare_html(frame, loaded, out)
        console.print(f"wrote {out}")


@app.command()
def gate(
    run_dir: Annotated[Path, typer.Argument(help="The new run folder.")],
    baseline: Annotated[Path, typer.Option(help="The baseline run folder.")],
    min_attainment: Annotated[float, typer.Option(help="Attainment every point must hold.")]
    = 0.90,
    max_capacity_drop: Annotated[float, typer.Option(
        help="Largest allowed relative capacity drop.")] = 0.05,
    max_p99_ttft_increase: Annotated[float | None, typer.Option(
        help="Largest allowed relative p99 TTFT increase (off by default).")] = None,
    max_p99_tpot_increase: Annotated[float | None, typer.Option(
        help="Largest allowed relative p99 TPOT increase (off by default).")] = None,
) -> None:
    """CI gate: exit 0 when every scenario/backend holds, 1 on a regression or on a
    capacity at the search's edge (≥ X / < X: a bound, never compared), 2 on bad input."""
    from slobench.report.gate import gate as run_gate
    from slobench.report.gate import render_gate
    from slobench.report.run_dir import load_run

    result = run_gate(load_run(run_dir), load_run(baseline), min_attainment=min_attainment,
                      max_capacity_drop=max_capacity_drop,
                      max_p99_ttft_increase=max_p99_ttft_increase,
                      max_p99_tpot_increase=max_p99_tpot_increase)
    render_gate(result, console)
    raise typer.Exit(0 if result.passed else 1)

