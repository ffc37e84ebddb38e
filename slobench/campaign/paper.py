"""`slobench run --paper`: every scenario on the paper's own deployment (its file's
`[paper]` table: model, GPUs, tensor parallelism, drafting), against vLLM, vLLM with
speculative decoding and Sarathi-Serve.

Each scenario is an ordinary run of its own in `<out>/<scenario>/` (run.json, Parquet,
report.html: every other command reads it), since model and GPUs differ per scenario;
the study's table goes to `<out>/paper.json`. Everything is checked before the first
probe: a missing or bad `[paper]` table is one line and exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from slobench.campaign.campaign import Progress, default_run_id, expand_scenarios, run_campaign
from slobench.campaign.config import RunConfig
from slobench.campaign.writer import RunWriter, prepare_run_folder
from slobench.core.errors import UserInputError, input_error
from slobench.perf.factory import build_perf_model, kv_capacity_tokens
from slobench.report.paper_table import BASELINES, TARGET, ScenarioStudy, paper_table, plain_rows
from slobench.workloads.paper import PaperSetting
from slobench.workloads.scenario import load_scenario

STUDY_FILE = "paper.json"
# Options --paper sets per scenario; giving one as well is refused (it would be ignored).
PAPER_OWNS = ("model", "hardware", "gpus", "tp", "backends", "profile", "spec_tokens",
              "spec_alpha")
# Options --paper cannot honour, and why.
PAPER_REFUSES = {"engine": "--paper runs the simulator (the paper's GPUs are simulated)",
                 "rates": "--paper compares capacities: it runs the capacity search",
                 "trace": "--paper runs each scenario's own arrival process and lengths"}


@dataclass(frozen=True)
class PaperRun:
    scenario: str
    setting: PaperSetting
    cfg: RunConfig


def paper_backends(setting: PaperSetting) -> list[str]:
    """The paper's baselines and SLOs-Serve; vLLM's drafting only where the paper drafts."""
    return [b for b in (*BASELINES, TARGET) if b != "vllm_spec" or setting.drafts]


def paper_config(cfg: RunConfig, setting: PaperSetting, scenario: str, out: Path) -> RunConfig:
    """`cfg` with the paper's deployment for one scenario. The workload stays the
    scenario's own, `--max-context` included: cutting it to OPT's 2,048-token context
    (as the paper's code drops longer requests) would leave summarization, whose
    approximated arXiv prompts run ~7k tokens, with 2 sessions in 1,000 and coding
    with 60%; the step-time models do not limit context, so they run as they are."""
    return cfg.with_changes(scenarios=[scenario], backends=paper_backends(setting),
                   model=setting.model, hardware=setting.hardware,
                   gpu_memory_gib=setting.gpu_memory_gib, gpus=setting.gpus, tp=setting.tp,
                   profile="auto", spec_tokens=setting.spec_tokens,
                   spec_alpha=setting.spec_alpha, rates=None,
                   out=out / scenario)


def plan_paper_runs(cfg: RunConfig, force: bool = False) -> tuple[Path, list[PaperRun]]:
    """The study folder and one run per scenario, every setting checked (names in the
    catalog, the weights fit, the folders free) before anything runs."""
    names = expand_scenarios(cfg.scenarios)
    out = cfg.out or Path("results") / default_run_id(names)
    if (out / STUDY_FILE).exists() and not force:
        raise input_error("--out", None, f"{out} holds an earlier --paper study "
                          f"({STUDY_FILE}); choose a new folder or pass --force")
    runs = []
    for name in names:
        scenario = load_scenario(name)
        setting = scenario.paper
        if setting is None:
            raise input_error(scenario.path, "paper", "missing: --paper runs each scenario "
                              "on its file's [paper] table (model, tp, gpus, ...)")
        try:
            sub = paper_config(cfg, setting, scenario.name, out)
            build_perf_model(sub.model, sub.sim.hardware, sub.tp, sub.sim.profile)
            kv_capacity_tokens(sub.model, sub.sim.hardware_spec(), sub.tp)
        except UserInputError as exc:
            raise input_error(scenario.path, "paper", str(exc)) from None
        runs.append(PaperRun(scenario.name, setting, sub))
    for run in runs:
        prepare_run_folder(run.cfg.out or out, force)
    return out, runs


@dataclass
class PaperStudy:
    out_dir: Path
    writers: list[RunWriter]
    table: pd.DataFrame

    @property
    def failure_budget_spent(self) -> list[str]:
        return [s for w in self.writers for s in w.meta.get("failure_budget_spent", [])]


def run_paper(out: Path, runs: list[PaperRun], progress: Progress | None = None,
              after_each: Callable[[RunWriter], None] | None = None) -> PaperStudy:
    """Run every scenario on its setting, then write and return the study's table."""
    writers, studies = [], []
    for run in runs:
        if progress is not None:
            st = run.setting
            progress.note(f"{run.scenario}: {st.model} on {st.gpus}x {st.hardware}, tp {st.tp}"
                          + (f", {st.spec_tokens} drafts (α {st.spec_alpha:g})" if st.drafts
                             else ", no drafting") + f"; {', '.join(run.cfg.backends)}")
        writer = run_campaign(run.cfg, progress)
        writers.append(writer)
        studies.append(ScenarioStudy(run.scenario, run.setting, writer.summary_frame()))
        if after_each is not None:
            after_each(writer)
    table = paper_table(studies)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"runs": {r.scenario: str(w.out_dir) for r, w in zip(runs, writers, strict=True)},
           "settings": {r.scenario: asdict(r.setting) for r in runs},
           "table": plain_rows(table)}
    (out / STUDY_FILE).write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return PaperStudy(out, writers, table)
