"""`slobench perf`: what one simulated batch step costs, and its parts."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from slobench.cli import option_types as ot
from slobench.cli.app import app, console
from slobench.core.errors import UserInputError, input_error


def parse_tokens(value: str) -> list[int]:
    """'1,128,2048' -> [1, 128, 2048]; every entry a positive integer."""
    items = [v.strip() for v in value.split(",")]
    try:
        tokens = [int(v) for v in items]
    except ValueError:
        tokens = []
    if not tokens or any(t < 1 for t in tokens):
        raise input_error("--tokens", value, "expected positive integers, e.g. 1,128,2048")
    return tokens


@app.command()
def perf(
    model: Annotated[str, typer.Option(
        help="Model, e.g. llama-3-8b, opt-13b, or one from --specs.")] = "opt-13b",
    hardware: Annotated[str, typer.Option(
        help="GPU kind: a100, h100, h200, or one from --specs.")] = "a100",
    tp: Annotated[int, typer.Option(help="Tensor-parallel degree (GPUs per replica).")] = 1,
    tokens: Annotated[str, typer.Option(
        help="Batch sizes in tokens (comma list); one step is shown for each.")]
    = "1,128,2048",
    decode: Annotated[int, typer.Option(
        help="Of each batch, this many tokens are decodes (one per sequence); the rest is "
             "one prompt's prefill.")] = 0,
    context: Annotated[int | None, typer.Option(
        help="KV tokens the batch attends in total (default: the batch's own tokens, i.e. "
             "a fresh prompt attending to itself).")] = None,
    draft_steps: Annotated[int, typer.Option(help="Speculative draft steps before the step.")]
    = 0,
    profile: Annotated[str, typer.Option(
        help="Perf model, as for `run`: auto (the paper's fitted profile when one exists, "
             "else roofline), roofline, fitted.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
    = False,
    specs: ot.Specs = None,
) -> None:
    """Show the step time the simulator uses and its parts (linear layers, attention,
    element-wise ops, LM head, all-reduce, overhead, draft), each with the limit it hits."""
    from slobench.perf.breakdown import step_breakdown
    from slobench.perf.factory import build_perf_model
    from slobench.perf.specs_file import use_specs_file

    use_specs_file(specs)
    sizes = parse_tokens(tokens)
    _check(model, hardware, tp, sizes, decode, context, draft_steps)
    perf_model = build_perf_model(model, hardware, tp, profile)
    steps = [step_breakdown(perf_model, n - decode, decode,
                            n if context is None else context, draft_steps) for n in sizes]
    if as_json:
        typer.echo(json.dumps({"model": model, "hardware": hardware, "tp": tp,
                               "perf_model": perf_model.describe(),
                               "steps": [s.to_dict() for s in steps]}, indent=2))
        return
    table = Table(title=f"{perf_model.name}: one batch step, ms (limit hit)")
    table.add_column("part")
    for n in sizes:
        table.add_column(f"{n} tok", justify="right")
    for i, part in enumerate(steps[0].parts):
        table.add_row(part.name, *(f"{s.parts[i].seconds * 1e3:.3f} ({s.parts[i].bound})"
                                   for s in steps))
    table.add_row("[bold]step[/]", *(f"[bold]{s.total * 1e3:.3f}[/]" for s in steps))
    console.print(table)


def _check(model: str, hardware: str, tp: int, sizes: list[int], decode: int,
           context: int | None, draft_steps: int) -> None:
    """Name the option at fault before anything is built."""
    from slobench.perf.catalog import default_catalog

    cat = default_catalog()
    try:
        spec = cat.model(model)
    except UserInputError:
        raise input_error("--model", model, "unknown; known: "
                          + ", ".join(cat.model_names())) from None
    try:
        cat.hardware(hardware)
    except UserInputError:
        raise input_error("--hardware", hardware, "unknown; known: "
                          + ", ".join(cat.hardware_names())) from None
    if tp < 1 or spec.heads % tp:
        raise input_error("--tp", str(tp), f"must divide {spec.name}'s {spec.heads} "
                          "attention heads")
    if not 0 <= decode <= min(sizes):
        raise input_error("--decode", str(decode), f"must be between 0 and the smallest "
                          f"batch ({min(sizes)} tokens)")
    if context is not None and context < 0:
        raise input_error("--context", str(context), "must be >= 0")
    if draft_steps < 0:
        raise input_error("--draft-steps", str(draft_steps), "must be >= 0")
