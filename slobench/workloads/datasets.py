"""Prompt datasets from files: real text in place of the scenario's synthetic prompts.

`--dataset sharegpt:PATH` reads ShareGPT conversation JSON (a list of
`{"conversations": [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}]}`):
as `vllm bench serve` does, the first turn is the prompt and the second's token count
the output length. `--dataset jsonl:PATH` reads one `{"prompt": ..., "output_tokens": N}`
per line. Lengths are measured with the served model's tokenizer, never assumed.

The scenario still decides everything else: arrivals, stages, SLOs. `apply` gives the
workload's calls, in send order, the dataset's records in file order (cycling when the
workload has more calls than the file has records), each with its measured lengths, and
returns the text each call sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from slobench.core.errors import input_error

from .entities import CallSpec, OutputPhase, Workload

KINDS = ("sharegpt", "jsonl")
Counter = Callable[[str], int]          # text -> its token count


@dataclass(frozen=True)
class Record:
    where: str                          # "FILE: record N" / "FILE: line N", for messages
    prompt: str
    output_tokens: int | None           # jsonl: given; sharegpt: measured from `completion`
    completion: str = ""


@dataclass(frozen=True)
class Sample:
    prompt: str
    prompt_tokens: int
    output_tokens: int


def parse_spec(value: str) -> tuple[str, Path]:
    kind, sep, path = value.partition(":")
    if not sep or kind not in KINDS or not path:
        raise ValueError(f"expected KIND:PATH with KIND one of {', '.join(KINDS)}, "
                         f"got {value!r}")
    return kind, Path(path)


def read_dataset(kind: str, path: Path) -> list[Record]:
    """Every record of the file; a bad or empty file: exit 2 naming the file and record."""
    src = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise input_error(src, None, "dataset file not found") from None
    except UnicodeDecodeError as exc:
        raise input_error(src, None, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise input_error(src, None, f"cannot read: {exc.strerror}") from None
    records = _sharegpt(src, text) if kind == "sharegpt" else _jsonl(src, text)
    if not records:
        raise input_error(src, None, "the dataset holds no record")
    return records


def _sharegpt(src: str, text: str) -> list[Record]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise input_error(src, None, f"not JSON: {exc}") from None
    if not isinstance(data, list):
        raise input_error(src, None, "expected a JSON list of conversations")
    out = []
    for i, conv in enumerate(data):
        where = f"record {i}"
        turns = conv.get("conversations") if isinstance(conv, dict) else None
        if not isinstance(turns, list) or len(turns) < 2:
            raise input_error(src, where, "needs 'conversations' with at least two turns")
        values = [t.get("value") if isinstance(t, dict) else None for t in turns[:2]]
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise input_error(src, where, "the first two turns need a non-empty 'value'")
        out.append(Record(f"{src}: {where}", values[0], None, values[1]))
    return out


def _jsonl(src: str, text: str) -> list[Record]:
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {n}"
        try:
            row: Any = json.loads(line)
        except ValueError as exc:
            raise input_error(src, where, f"not JSON: {exc}") from None
        prompt = row.get("prompt") if isinstance(row, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise input_error(src, where, "needs a non-empty string 'prompt'")
        tokens = row.get("output_tokens")
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            raise input_error(src, where, f"'output_tokens' must be an integer >= 1, "
                              f"got {tokens!r}")
        out.append(Record(f"{src}: {where}", prompt, tokens))
    return out


def measure(records: list[Record], count: Counter, max_context: int) -> list[Sample]:
    """Each record's lengths by the served model's tokenizer; one that cannot fit the
    model's context is bad input (named), not silently cut."""
    samples = []
    for r in records:
        p = count(r.prompt)
        o = r.output_tokens if r.output_tokens is not None else count(r.completion)
        if p + max(o, 1) > max_context:
            src, _, where = r.where.partition(": ")
            raise input_error(src, where, f"{p} prompt + {o} output tokens exceed the "
                              f"model's context of {max_context}")
        samples.append(Sample(r.prompt, p, max(o, 1)))
    return samples


def apply(workload: Workload, samples: list[Sample],
          ) -> tuple[Workload, dict[tuple[int, int], str]]:
    """The workload with each call's lengths from the next sample; the text per call."""
    texts: dict[tuple[int, int], str] = {}
    sessions = []
    k = 0
    for s in sorted(workload.sessions, key=lambda s: s.start_s):
        calls = []
        for index, call in enumerate(s.calls):
            sample = samples[k % len(samples)]
            k += 1
            texts[(s.session_id, index)] = sample.prompt
            calls.append(_sized(call, sample))
        sessions.append(replace(s, calls=tuple(calls)))
    return replace(workload, sessions=tuple(sessions)), texts


def _sized(call: CallSpec, sample: Sample) -> CallSpec:
    """The call with the sample's lengths; its output phases keep their shares."""
    total = sum(p.tokens for p in call.phases) or 1
    left, phases = sample.output_tokens, []
    for i, p in enumerate(call.phases):
        last = i == len(call.phases) - 1
        n = left if last else min(left, round(sample.output_tokens * p.tokens / total))
        phases.append(OutputPhase(p.name, n, p.tpot_ms))
        left -= n
    return replace(call, prompt_tokens=sample.prompt_tokens, phases=tuple(phases))
