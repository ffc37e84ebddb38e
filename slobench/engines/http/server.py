"""What an OpenAI-compatible server tells and needs, beside the calls themselves
(`OpenAIEngine`, engines/http/engine.py): which backend it can run, which served model
to ask for, the HTTP headers (API key, --header) every call carries, and a `--dataset`
file's prompts measured by the served model's tokenizer.

Secrets: headers live only in memory (the engine, the load generator's session); the
run's files get their names, never their values (`public_headers`).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable
from pathlib import Path

from slobench.core.errors import EngineError, input_error
from slobench.workloads.datasets import Sample, apply, measure, parse_spec, read_dataset
from slobench.workloads.entities import Workload

# On a server slobench did not start, "vllm" names the server's own scheduler: the one
# backend it can run (slos is loaded into servers slobench starts).
OPENAI_BACKENDS = ("vllm",)
REAL_BACKENDS = ("vllm", "slos")
DEFAULT_BACKENDS = {"sim": "vllm,slos", "vllm": "vllm,slos", "openai": "vllm"}
API_KEY_ENV = "OPENAI_API_KEY"
REDACTED = "***"


def default_backends(engine: str) -> str:
    return DEFAULT_BACKENDS.get(engine, "vllm,slos")


def check_backends(engine: str, backends: list[str]) -> None:
    allowed = REAL_BACKENDS if engine == "vllm" else OPENAI_BACKENDS
    bad = [b for b in backends if b not in allowed]
    if bad:
        raise input_error("--backends", None,
                          f"engine {engine!r} runs backends {', '.join(allowed)}; "
                          f"{', '.join(bad)} is not available on it "
                          "(slos needs --engine vllm: slobench loads it into the servers "
                          "it starts); or use --engine sim")


def parse_header(value: str) -> tuple[str, str]:
    """`K:V` (or `K: V`) as a (name, value) pair; raises ValueError on a bad one."""
    name, sep, text = value.partition(":")
    if not sep or not name.strip() or any(c in name for c in " \t\r\n"):
        raise ValueError(f"expected NAME:VALUE, e.g. 'X-Team: perf', got {_shown(value)}")
    if any(c in text for c in "\r\n"):
        raise ValueError("a header value cannot hold a line break")
    return name.strip(), text.strip()


def _shown(value: str) -> str:
    """A bad --header named without its value (it may hold a secret)."""
    name = value.partition(":")[0]
    return repr(name[:40] + ":…") if ":" in value else "a value with no ':'"


def request_headers(api_key: str | None, headers: list[str] | None) -> dict[str, str]:
    """Headers of every call: `Authorization: Bearer KEY` (--api-key, else
    $OPENAI_API_KEY), then each --header (which may override it)."""
    out: dict[str, str] = {}
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    if key:
        out["Authorization"] = f"Bearer {key}"
    for h in headers or []:
        name, text = parse_header(h)
        out[name] = text
    return out


def public_headers(headers: dict[str, str]) -> dict[str, str]:
    """What run.json may say about the headers: their names only."""
    return dict.fromkeys(headers, REDACTED)


def served_model(url: str, wanted: str | None, headers: dict[str, str] | None = None,
                 ) -> tuple[str, int | None]:
    """The served model to ask for and its context length, from `GET /v1/models`.

    `wanted` (--model) must be one the server lists; without it the server must list
    exactly one (picking the first of several would measure a model nobody chose).
    """
    req = urllib.request.Request(url + "/v1/models", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            data = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        raise EngineError(f"{url}/v1/models did not answer: {exc}") from None
    models = [m for m in data.get("data") or [] if isinstance(m, dict) and "id" in m]
    if not models:
        raise EngineError(f"{url}/v1/models lists no model")
    names = [str(m["id"]) for m in models]
    if wanted is None:
        if len(models) > 1:
            raise input_error("--model", None, f"{url} serves {', '.join(names)}; "
                              "name the one to measure")
        return names[0], models[0].get("max_model_len")
    if wanted not in names:
        raise input_error("--model", None, f"{url} does not serve {wanted!r}; it serves "
                          f"{', '.join(names)}")
    return wanted, models[names.index(wanted)].get("max_model_len")


def folder_counter(folder: Path) -> Callable[[str], int]:
    """Token counts by the `tokenizers` tokenizer in a model folder (tokenizer.json)."""
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json" if folder.is_dir() else folder
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:   # tokenizers raises its own Exception type on a bad file
        raise input_error("--tokenizer", None, f"{path}: not a tokenizer: {exc}") from None
    return lambda text: len(tok.encode(text).ids)


def server_counter(url: str, model: str, headers: dict[str, str]) -> Callable[[str], int]:
    """Token counts by the server itself (vLLM's and SGLang's `POST /tokenize`)."""

    def count(text: str) -> int:
        body = json.dumps({"model": model, "prompt": text}).encode()
        req = urllib.request.Request(url + "/tokenize", data=body, method="POST",
                                     headers={**headers, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                data = json.loads(resp.read())
            return int(data["count"]) if "count" in data else len(data["tokens"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EngineError(f"{url}/tokenize did not count a prompt's tokens ({exc}); "
                              "give the model's tokenizer with --tokenizer FOLDER") from None

    return count


class DatasetPrompts:
    """A `--dataset` file's prompts, measured once the served model is known."""

    def __init__(self, spec: str, tokenizer: str | None) -> None:
        kind, path = parse_spec(spec)
        self.records = read_dataset(kind, path)
        self.tokenizer = Path(tokenizer) if tokenizer else None
        self.samples: list[Sample] = []

    def measure(self, url: str, model: str, headers: dict[str, str],
                max_context: int | None) -> None:
        count = (folder_counter(self.tokenizer) if self.tokenizer is not None
                 else server_counter(url, model, headers))
        self.samples = measure(self.records, count, max_context or 1 << 30)

    def apply(self, workload: Workload) -> tuple[Workload, dict[tuple[int, int], str]]:
        return apply(workload, self.samples)
