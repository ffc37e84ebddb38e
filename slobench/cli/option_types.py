"""Options several commands declare alike, written once as `Annotated` types.

    def profile(..., vllm_python: option_types.VllmPython = None, ...)

The rules they run are options.py's; a command using `Specs` calls
`slobench.perf.specs_file.use_specs_file(specs)` before it looks a name up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slobench.cli import options as opt

VllmPython = Annotated[str | None, typer.Option(help="Python with vLLM installed.")]
VllmArgs = Annotated[list[str] | None, typer.Option(help="Extra `vllm serve` argument.")]
StartupTimeout = Annotated[float, typer.Option(
    callback=opt.STARTUP_TIMEOUT, help="Seconds to wait for /health.")]
Specs = Annotated[Path | None, typer.Option(
    "--specs", callback=opt.SPECS, metavar="FILE",
    help="TOML file of extra hardware, models and fitted profiles ([hardware.NAME], "
         "[models.NAME], [profiles.NAME]), usable by name like the shipped ones.")]
