"""The rules for every command's options, one per option, written once.

Typer runs each rule as the option's callback while it parses the command line, so a
bad value stops the command before any engine or server starts (the --out rules make
the folder they prove writable, nothing else is written); the rules
that tie two options together (`--tp` must divide `--gpus`, ...) are the `check_*`
functions a command calls first. A broken rule raises UserInputError, which `main()`
prints as `slobench: --option: problem` with exit status 2 (SPEC §11).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from slobench.core.errors import input_error

Check = Callable[[Any], str | None]     # the problem with a value, or None when it is fine
SEED_MAX = 2**63 - 1                    # seeds are stored as int64 (run.json, numpy)


def csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _flag(param: typer.CallbackParam) -> str:
    longs = [o for o in param.opts if o.startswith("--")]
    return longs[0] if longs else (param.human_readable_name or str(param.name))


def _rule(check: Check) -> Callable[[typer.CallbackParam, Any], Any]:
    """A Typer callback that refuses the values `check` finds a problem with."""

    def callback(param: typer.CallbackParam, value: Any) -> Any:
        if value is not None and (problem := check(value)) is not None:
            raise input_error(_flag(param), None, problem)
        return value

    return callback


def _at_least(low: int) -> Check:
    return lambda v: None if v >= low else f"must be >= {low}, got {v}"


def _number(low: float, high: float = math.inf, *, low_open: bool = False,
            high_open: bool = False) -> Check:
    """A finite number in an interval, named in the message as (a, b], [a, b), > a..."""
    if math.isfinite(high):
        shown = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    else:
        shown = f"{'>' if low_open else '>='} {low:g}"

    def check(v: float) -> str | None:
        ok = (math.isfinite(v) and (v > low if low_open else v >= low)
              and (v < high if high_open else v <= high))
        return None if ok else f"must be a finite number {shown}, got {v}"

    return check


def _choice(*choices: str) -> Check:
    return lambda v: None if v in choices else f"choose from {', '.join(choices)}, got {v!r}"


def _listed(value: str, known: list[str], what: str) -> str | None:
    names = csv(value)
    if not names:
        return f"name at least one {what}"
    if len(set(names)) < len(names):
        return f"a {what} is named twice in {value!r}"
    bad = [n for n in names if n not in known]
    return f"unknown {what} {', '.join(bad)}; choose from {', '.join(known)}" if bad else None


def _scenarios(value: str) -> str | None:
    from slobench.workloads.scenario import load_scenario

    names = csv(value)
    if not names:
        return "name a scenario, a workload TOML path, a comma list, or 'all'"
    if len(set(names)) < len(names):
        return f"a scenario is named twice in {value!r}"
    for name in names if names != ["all"] else []:
        load_scenario(name)            # a bad file: one line naming the file and field
    return None


def parse_rates(value: str) -> list[float]:
    """--rates as numbers: each finite and > 0 (nan and inf are floats too)."""
    try:
        rates = [float(r) for r in csv(value)]
    except ValueError:
        raise input_error("--rates", None, f"expected numbers, got {value!r}") from None
    if not rates or not all(math.isfinite(r) and r > 0 for r in rates):
        raise input_error("--rates", None, f"every rate must be a finite number > 0, "
                          f"got {value!r}")
    return rates


def _trace(path: Path) -> str | None:
    from slobench.workloads.trace import read_trace

    read_trace(path)                   # a bad file: one line naming the file and line
    return None


def _url(value: str) -> str | None:
    ok = value.startswith(("http://", "https://")) and len(value.split("//", 1)[1]) > 0
    return None if ok else f"expected http://host:port or https://..., got {value!r}"


def _header(values: list[str]) -> str | None:
    from slobench.engines.http.server import parse_header

    for v in values:
        try:
            parse_header(v)
        except ValueError as exc:
            return str(exc)
    return None


def _api_key(value: str) -> str | None:
    return None if value.strip() and "\n" not in value else "must be a non-empty line"


def _endpoint(value: str) -> str | None:
    from slobench.engines.http.options import ENDPOINTS

    return _choice(*ENDPOINTS)(value)


def _dataset(value: str) -> str | None:
    from slobench.workloads.datasets import parse_spec, read_dataset

    try:
        kind, path = parse_spec(value)
    except ValueError as exc:
        return str(exc)
    read_dataset(kind, path)           # a bad file: one line naming the file and record
    return None


def _tokenizer(value: str) -> str | None:
    path = Path(value)
    found = path / "tokenizer.json" if path.is_dir() else path
    return None if found.is_file() else f"no tokenizer.json at {value}"


def _folder(option: str) -> Check:
    def check(path: Path) -> str | None:
        from slobench.campaign.writer import writable_folder

        writable_folder(path, option)  # made now: it is where the command writes
        return None

    return check


def _out_file(path: Path) -> str | None:
    if path.is_dir():
        return f"{path} is a folder; give a file name (e.g. {path / 'compare.html'})"
    from slobench.campaign.writer import writable_folder

    writable_folder(path.parent, "--out")
    return None


def _new_file(path: Path) -> str | None:
    if path.exists():
        return f"{path} exists; choose a new file"
    return None if path.parent.is_dir() else f"folder {path.parent} does not exist"


def _backend_names() -> list[str]:
    from slobench.engines.sim.engine import known_backends

    return known_backends()


def _routing(value: str) -> str | None:
    from slobench.engines.offer_order import ROUTINGS

    return _choice(*ROUTINGS)(value)


def _engine(value: str) -> str | None:
    from slobench.campaign.config import ENGINES

    return _choice(*ENGINES)(value)


def _output_lengths(value: str) -> str | None:
    from slobench.campaign.config import OUTPUT_LENGTH_MODES

    return _choice(*OUTPUT_LENGTH_MODES)(value)


def _specs(path: Path) -> str | None:
    from slobench.perf.specs_file import check_specs_file

    check_specs_file(path)             # a bad file: one line naming the file and field
    return None


# -- one callback per option (shared where the option means the same in several commands)
SCENARIO = _rule(_scenarios)
ENGINE = _rule(_engine)
BACKENDS = _rule(lambda v: _listed(v, _backend_names(), "backend"))
GPUS = _rule(_at_least(1))
TP = _rule(_at_least(1))
REPLICAS = _rule(_at_least(1))
RATES = _rule(lambda v: parse_rates(v) and None)
REQUESTS = _rule(_at_least(1))
SEED = _rule(lambda v: None if 0 <= v <= SEED_MAX else f"must be in [0, 2**63 - 1], got {v}")
THRESHOLD = _rule(_number(0, 1, low_open=True))
TOLERANCE = _rule(_number(0, 1, low_open=True, high_open=True))
MIN_RATE = _rule(_number(0, low_open=True))
ROUTING = _rule(_routing)
OUTPUT_LENGTHS = _rule(_output_lengths)
SLO_SCALE = _rule(_number(0, low_open=True))
MAX_CONTEXT = _rule(_at_least(2))   # a prompt and an output token, at least
TRACE = _rule(_trace)
SPEC_TOKENS = _rule(_at_least(0))
SPEC_ALPHA = _rule(_number(0, 1, high_open=True))
URL = _rule(_url)
STARTUP_TIMEOUT = _rule(_number(0, low_open=True))
REQUEST_TIMEOUT = _rule(_number(0, low_open=True))
MIN_PROBE_S = _rule(_number(0))
WARM_REQUESTS = _rule(_at_least(0))
STALL_THRESHOLD = _rule(_number(0, low_open=True))
STALL_RERUNS = _rule(_at_least(0))
FAILURE_BUDGET = _rule(_number(0, 1))
API_KEY = _rule(_api_key)
HEADER = _rule(_header)
ENDPOINT = _rule(_endpoint)
MAX_CONCURRENCY = _rule(_at_least(1))
DATASET = _rule(_dataset)
TOKENIZER = _rule(_tokenizer)
SERVE_BACKEND = _rule(_choice("slos", "vllm"))
ROUTER = _rule(_choice("auto", "always"))
PORT = _rule(lambda v: None if 1 <= v <= 65535 else f"must be a port in [1, 65535], got {v}")
HOST = _rule(lambda v: None if v.strip() else "must name an address, e.g. 127.0.0.1")
SERVE_OUT = _rule(_folder("--out"))
MODEL_FOLDER = _rule(_folder("FOLDER"))
COMPARE_OUT = _rule(_out_file)
PROFILE_OUT = _rule(_new_file)
PROFILE_ENGINE = _rule(_choice("vllm"))
MIN_ATTAINMENT = _rule(_number(0, 1))
MAX_CAPACITY_DROP = _rule(_number(0, 1))
MAX_P99_INCREASE = _rule(_number(0))
SPECS = _rule(_specs)


# -- rules between options ----------------------------------------------------------------
def check_deployment(gpus: int | None, tp: int) -> None:
    if gpus is not None and gpus % tp:
        raise input_error("--tp", None, f"must divide --gpus ({gpus}), got {tp}")


def default_backends(engine: str) -> str:
    from slobench.engines.http.server import default_backends as default

    return default(engine)


def http_headers(api_key: str | None, headers: list[str] | None) -> dict[str, str]:
    """The headers every real call carries (checked by the API_KEY and HEADER rules)."""
    from slobench.engines.http.server import request_headers

    return request_headers(api_key, headers)


def check_run(engine: str, backends: str, url: str | None, twin: bool,
              dataset: str | None = None) -> None:
    from slobench.engines.http.server import check_backends

    if dataset and engine == "sim":
        raise input_error("--dataset", None, "sends real text prompts: it needs --engine "
                          "openai or vllm (the simulator takes the scenario's lengths)")
    if engine == "openai" and not url:
        raise input_error("--url", None, "engine 'openai' needs --url of the server")
    if twin and engine != "vllm":
        raise input_error("--twin", None, "replays a run of --engine vllm (the steps its "
                          "replicas logged) on the simulator")
    if engine != "sim":
        check_backends(engine, csv(backends))


def check_spec_backends(backends: str, spec_tokens: int) -> None:
    """vllm_spec drafts a fixed --spec-tokens per step: it needs some."""
    if "vllm_spec" in csv(backends) and spec_tokens < 1:
        raise input_error("--backends", None, "vllm_spec drafts --spec-tokens per decode "
                          "step; give --spec-tokens >= 1")
