"""`slobench serve` (replicas and the router, until Ctrl-C) and `slobench tiny-model`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from slobench.cli import option_types as ot
from slobench.cli import options as opt
from slobench.cli.app import app, console, say
from slobench.core.errors import EngineError

if TYPE_CHECKING:
    from slobench.engines.vllm.engine import VllmEngine
    from slobench.sched.slos.policy import SlosConfig


@app.command()
def serve(
    backend: Annotated[str, typer.Option(
        callback=opt.SERVE_BACKEND,
        help="slos (SLOs-Serve scheduler in every replica, router in front) | vllm (stock).")]
    = "slos",
    model: Annotated[str, typer.Option(help="Model to serve; 'tiny' for the tiny test model.")]
    = "tiny",
    replicas: Annotated[int, typer.Option(
        callback=opt.REPLICAS, help="On CPU: vLLM servers to start.")] = 1,
    gpus: Annotated[int | None, typer.Option(
        callback=opt.GPUS, help="On GPUs: GPUs to use (replicas = gpus/tp).")] = None,
    tp: Annotated[int, typer.Option(
        callback=opt.TP, help="Tensor-parallel degree per replica (GPUs).")] = 1,
    port: Annotated[int, typer.Option(callback=opt.PORT, help="Port of the router (slos).")]
    = 8000,
    host: Annotated[str, typer.Option(callback=opt.HOST, help="Address the router binds (slos).")]
    = "127.0.0.1",
    slo_scale: Annotated[float | None, typer.Option(
        callback=opt.SLO_SCALE,
        help="Recorded with the calibration (the plugin takes SLOs from each request).")]
    = None,
    best_effort: Annotated[bool, typer.Option(
        help="Keep requests no replica admits as best-effort instead of rejecting them "
             "(off: best-effort work lengthens every step of a real engine; README).")]
    = False,
    out: Annotated[Path, typer.Option(
        callback=opt.SERVE_OUT, help="Folder for server logs and the overhead files.")]
    = Path("results/serve"),
    vllm_python: ot.VllmPython = None,
    vllm_arg: ot.VllmArgs = None,
    startup_timeout: ot.StartupTimeout = 900.0,
) -> None:
    """Start replicas (and, for slos, the router) and serve until Ctrl-C.

    slos: the engine is calibrated first (SPEC §5) on stock replicas, which are then
    restarted with the SLOs-Serve scheduler (`--scheduler-cls`) and put behind the
    router on --host:--port. Clients send their SLOs per request in `vllm_xargs`
    (ttft_slo_s, tpot_phase_starts, tpot_slos_s, expected_output_tokens); a request
    without one is served best-effort. Exit status: 0 stopped by Ctrl-C, 1 a server
    failed, 2 bad input (nothing started).
    """
    opt.check_deployment(gpus, tp)
    engine = _engine(model, out, replicas, gpus or tp, tp, vllm_python, vllm_arg,
                     startup_timeout)
    engine.router_host, engine.router_port = host, port
    engine.slos_config = _slos_config(best_effort)
    try:
        with engine:
            _serve_until_dead(engine, backend, slo_scale)
    except KeyboardInterrupt:
        console.print("stopped")
    except EngineError as exc:
        raise typer.Exit(say(f"engine failed: {exc}", 1)) from None


def _engine(model: str, out: Path, replicas: int, gpus: int, tp: int,
            vllm_python: str | None, vllm_arg: list[str] | None,
            startup_timeout: float) -> VllmEngine:
    from slobench.engines.vllm.engine import VllmEngine

    engine = VllmEngine(model, out, vllm_python=vllm_python,
                        vllm_args=list(vllm_arg or []), replicas=replicas,
                        gpus=gpus, tp=tp, startup_timeout_s=startup_timeout)
    engine.notes = lambda text: console.print(Text(text))
    return engine


def _slos_config(best_effort: bool) -> SlosConfig:
    from slobench.sched.slos.policy import SlosConfig

    return SlosConfig.for_real_engine(best_effort=best_effort)


def _serve_until_dead(engine: VllmEngine, backend: str, slo_scale: float | None) -> None:
    """Calibrate and switch to SLOs-Serve (slos), then watch the servers until one dies
    (EngineError) or Ctrl-C."""
    if backend == "slos":
        console.print("calibrating on stock vLLM ...")
        engine.calibrate(slo_scale)
        engine.use_backend("slos")
    console.print(Text(f"serving {backend} ({engine.served_model}): "
                       + ", ".join(engine.urls) + "  (Ctrl-C stops)"))
    while True:
        time.sleep(1.0)
        if (msg := engine.dead()) is not None:
            raise EngineError(msg)


@app.command("tiny-model")
def tiny_model(
    folder: Annotated[Path, typer.Argument(
        callback=opt.MODEL_FOLDER, help="Folder to write the model into.")],
) -> None:
    """Write a tiny Llama model folder (config + tokenizer) for `vllm serve --load-format
    dummy`; `run --model tiny` makes one on demand in ~/.cache/slobench/tiny-model."""
    from slobench.engines.vllm.tiny_model import write_tiny_model

    console.print(Text(f"wrote {write_tiny_model(folder)}"))
