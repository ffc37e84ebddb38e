"""`slobench profile` and `slobench fidelity`: the instruments that check a real run
against the simulator (SPEC §6, §10)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from slobench.cli import option_types as ot
from slobench.cli import options as opt
from slobench.cli.app import app, console, err_console, say
from slobench.core.errors import EngineError, input_error


@app.command()
def profile(
    out: Annotated[Path, typer.Option(callback=opt.PROFILE_OUT,
                                      help="Profile file to write (JSON); refused if it "
                                           "exists.")],
    engine: Annotated[str, typer.Option(callback=opt.PROFILE_ENGINE,
                                        help="vllm: start real vLLM servers and drive "
                                             "designed steps through them.")] = "vllm",
    model: Annotated[str, typer.Option(help="Model to serve; 'tiny' for the tiny CPU "
                                            "model.")] = "tiny",
    replicas: Annotated[int, typer.Option(callback=opt.REPLICAS,
                                          help="vLLM servers on CPU (each runs the design "
                                               "at once, as a run loads the host).")] = 1,
    from_run: Annotated[Path | None, typer.Option(
        help="Refit from the steps a real run logged (its folder) instead of driving an "
             "engine.")] = None,
    vllm_python: ot.VllmPython = None,
    vllm_arg: ot.VllmArgs = None,
    startup_timeout: ot.StartupTimeout = 900.0,
) -> None:
    """Fit the step-time model of a real engine from the steps it runs (SPEC §6).

    Prefill-only steps at several prompt lengths, decode-only steps at several batch
    sizes and contexts, and mixed chunked steps are driven through stock vLLM servers
    whose scheduler logs every step; the model is fitted on three quarters of the steps
    and judged on the rest (R², mean and p95 relative error). `slobench run --engine sim
    --profile FILE` runs the simulator on the file.
    """
    from slobench.perf.step_profile import fit_step_profile, save_profile

    if from_run is not None:
        from slobench.campaign.twin import run_steps

        if not (from_run / "steps").is_dir():
            raise input_error("--from-run", None, f"{from_run} has no steps/ folder (a run "
                              "of --engine vllm logs its replicas' steps there)")
        try:
            prof, report = fit_step_profile(run_steps(from_run),
                                            {"source": f"refitted from {from_run}"})
        except ValueError as exc:
            raise input_error("--from-run", None, str(exc)) from None
    else:
        prof, report = _profile_vllm(model, replicas, out, vllm_python, vllm_arg,
                                     startup_timeout)
    save_profile(prof, report, out)
    _print_profile(prof.coef, report.line())
    console.print(f"wrote {out}", markup=False)


def _profile_vllm(model: str, replicas: int, out: Path, vllm_python: str | None,
                  vllm_arg: list[str] | None, startup_timeout: float) -> tuple:
    import tempfile

    from slobench.engines.vllm.engine import VllmEngine
    from slobench.engines.vllm.profile import profile_engine

    logs = Path(tempfile.mkdtemp(prefix=f"{out.stem}-", dir=out.parent))
    console.print(f"starting {replicas} vLLM server(s); logs in {logs}", markup=False)
    try:
        with VllmEngine(model, logs, vllm_python=vllm_python,
                        vllm_args=list(vllm_arg or []), replicas=replicas,
                        startup_timeout_s=startup_timeout) as eng:
            return profile_engine(eng, progress=console.print)[:2]
    except KeyboardInterrupt:
        err_console.print("interrupted: no profile written")
        raise typer.Exit(130) from None
    except EngineError as exc:
        raise typer.Exit(say(f"engine failed: {exc}", 1)) from None


def _print_profile(coef: dict[str, float], fit_line: str) -> None:
    table = Table(title="step time = Σ coefficient × feature")
    table.add_column("feature")
    table.add_column("coefficient", justify="right")
    for k, v in coef.items():
        table.add_row(k, f"{v:.4g}")
    console.print(table)
    console.print(fit_line, markup=False)


@app.command()
def fidelity(
    run_dir: Annotated[Path, typer.Argument(help="A run folder of --engine vllm.")],
    profile_file: Annotated[Path | None, typer.Option(
        "--profile", help="Profile file to replay on (default: refit from the run's "
                          "logged steps).")] = None,
) -> None:
    """Replay a real run on the simulator (its twin) and set the two side by side: per
    scenario, backend and rate attainment, TTFT/TPOT and rejected share, capacities, and
    the admission audit (SPEC §10). Writes fidelity.parquet, audit.parquet and the
    report's fidelity section."""
    if not (run_dir / "run.json").exists() or not (run_dir / "summary.parquet").exists():
        raise input_error(str(run_dir), None, "not a run folder (no run.json / "
                          "summary.parquet)")
    if not (run_dir / "steps").is_dir() and profile_file is None:
        raise input_error(str(run_dir), None, "has no steps/ folder to refit a profile "
                          "from; give --profile FILE")
    from slobench.metrics.run_tables import read_requests
    if read_requests(run_dir) is None:
        raise input_error(str(run_dir), None, "has no requests.parquet (nor a killed run's "
                          "probe parts): no client records to set the twin beside")
    twin_and_report(run_dir, profile_file)


def twin_and_report(run_dir: Path, profile_file: Path | None = None) -> None:
    """Replay, write the tables, print them, and refresh the report (used by run --twin)."""
    from slobench.campaign.twin import replay, write_twin
    from slobench.report.html import write_report
    from slobench.report.run_dir import load_run

    try:
        result = replay(run_dir, profile_file, progress=console.print)
    except ValueError as exc:
        raise input_error(str(run_dir), None, f"cannot replay: {exc}") from None
    write_twin(run_dir, result)
    if result.fit is not None:
        console.print("profile refitted from the run's steps: " + result.fit.line(),
                      markup=False)
    inflation = result.plan_inflation
    console.print(f"SLOs-Serve plans with the profile x {inflation['prefill']:.2f} for a "
                  f"prompt's prefill steps, x {inflation['one_step']:.2f} for one alone, "
                  f"x {inflation['decode']:.2f} for decodes (as the plugin's online model "
                  "inflated its own)")
    if result.host and any(result.host.values()):
        h = result.host
        console.print(f"its calls reach a scheduler {h['first_offer_s'] * 1e3:.0f} ms after "
                      f"arrival, the next one {h['forward_s'] * 1e3:.0f} ms after a "
                      f"rejection, the client {h['delivery_s'] * 1e3:.0f} ms after a token "
                      "(the real run's medians)")
    if result.baseline_host and any(result.baseline_host.values()):
        h = result.baseline_host
        console.print(f"stock vLLM's calls (no router) reach a scheduler "
                      f"{h['first_offer_s'] * 1e3:.0f} ms after arrival, the client "
                      f"{h['delivery_s'] * 1e3:.0f} ms after a token")
    print_fidelity(result.fidelity, result.audit)
    write_report(load_run(run_dir), run_dir / "report.html")
    console.print(f"fidelity: {run_dir / 'fidelity.parquet'}, report updated", markup=False)


def print_fidelity(fid: pd.DataFrame, audit: pd.DataFrame) -> None:
    points = fid[fid["kind"] == "point"]
    table = Table(title="Real vs twin (attainment; TTFT p99 s; rejected share)")
    for col in ("scenario", "backend", "rate", "real", "twin", "p99 real", "p99 twin",
                "rej real", "rej twin", "ok"):
        table.add_column(col, justify="left" if col in ("scenario", "backend") else "right",
                         overflow="fold")    # 80 columns: wrap, never cut a number
    for _, r in points.iterrows():
        table.add_row(str(r["scenario"]), str(r["backend"]), f"{r['rate']:g}",
                      f"{r['attainment_real']:.2f}", f"{r['attainment_twin']:.2f}",
                      f"{r['ttft_p99_s_real']:.3g}", f"{r['ttft_p99_s_twin']:.3g}",
                      f"{r['rejected_share_real']:.2f}", f"{r['rejected_share_twin']:.2f}",
                      "yes" if r["agrees"] else "NO")
    console.print(table)
    caps = fid[fid["kind"] == "capacity"]
    if len(caps):
        table = Table(title="Capacity, real vs twin (sessions/s)")
        for col in ("scenario", "backend", "real", "twin", "twin/real-1", "ok"):
            table.add_column(col, overflow="fold")
        for _, r in caps.iterrows():
            table.add_row(str(r["scenario"]), str(r["backend"]),
                          f"{r['capacity_real']:.3g} ({r['bound_real']})",
                          f"{r['capacity_twin']:.3g} ({r['bound_twin']})",
                          f"{r['capacity_rel_gap']:+.0%}", "yes" if r["agrees"] else "NO")
        console.print(table)
    if len(audit):
        table = Table(title="Admission audit: turned away by slos, served in SLO by vllm")
        for col in ("run", "scenario", "rate", "calls", "away", "false", "share", "reasons"):
            table.add_column(col, overflow="fold")
        for _, r in audit.iterrows():
            table.add_row(str(r["source"]), str(r["scenario"]), f"{r['rate']:g}",
                          str(r["calls"]), str(r["turned_away"]), str(r["false_rejects"]),
                          f"{r['false_reject_share']:.1%}", str(r["reasons"]))
        console.print(table)
