"""Prompt datasets from files (--dataset sharegpt:PATH / jsonl:PATH): records read and
named when bad, lengths measured by a tokenizer, and applied to a scenario's workload
without touching its arrivals or SLOs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slobench.core.errors import UserInputError
from slobench.workloads.datasets import Sample, apply, measure, parse_spec, read_dataset
from slobench.workloads.generate import generate
from slobench.workloads.scenario import load_scenario


def _words(text: str) -> int:
    return len(text.split())


def _jsonl(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_jsonl_records_keep_their_prompt_and_output_tokens(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, ['{"prompt": "a b c", "output_tokens": 5}', "",
                             '{"prompt": "d", "output_tokens": 1}'])
    samples = measure(read_dataset("jsonl", path), _words, 100)
    assert samples == [Sample("a b c", 3, 5), Sample("d", 1, 1)]


@pytest.mark.parametrize(("line", "problem"), [
    ("{not json", "line 2: not JSON"),
    ('{"prompt": "", "output_tokens": 3}', "line 2: needs a non-empty string 'prompt'"),
    ('{"prompt": "x"}', "line 2: 'output_tokens' must be an integer >= 1, got None"),
    ('{"prompt": "x", "output_tokens": true}', "line 2: 'output_tokens' must be an integer"),
])
def test_a_bad_jsonl_line_is_named_with_its_file(tmp_path: Path, line: str,
                                                 problem: str) -> None:
    path = _jsonl(tmp_path, ['{"prompt": "ok", "output_tokens": 2}', line])
    with pytest.raises(UserInputError) as err:
        read_dataset("jsonl", path)
    assert str(err.value).startswith(f"{path}: {problem}")


def test_an_empty_or_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    empty = _jsonl(tmp_path, [""])
    with pytest.raises(UserInputError, match="holds no record"):
        read_dataset("jsonl", empty)
    with pytest.raises(UserInputError, match="not found"):
        read_dataset("sharegpt", tmp_path / "missing.json")


def test_sharegpt_takes_the_first_two_turns_and_measures_the_answer(tmp_path: Path) -> None:
    path = tmp_path / "sg.json"
    path.write_text(json.dumps([{"conversations": [
        {"from": "human", "value": "one two"}, {"from": "gpt", "value": "x y z"},
        {"from": "human", "value": "ignored"}]}]))
    assert measure(read_dataset("sharegpt", path), _words, 100) == [Sample("one two", 2, 3)]


def test_a_sharegpt_record_without_two_turns_is_named(tmp_path: Path) -> None:
    path = tmp_path / "sg.json"
    path.write_text(json.dumps([{"conversations": [{"from": "human", "value": "a"},
                                                   {"from": "gpt", "value": "b"}]},
                                {"conversations": [{"from": "human", "value": "a"}]}]))
    with pytest.raises(UserInputError, match=r"sg.json: record 1: needs 'conversations'"):
        read_dataset("sharegpt", path)


def test_a_record_longer_than_the_context_is_named(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, ['{"prompt": "a b c", "output_tokens": 8}'])
    with pytest.raises(UserInputError, match=r"line 1: 3 prompt \+ 8 output tokens exceed"):
        measure(read_dataset("jsonl", path), _words, 10)


def test_the_spec_names_a_kind_and_a_path() -> None:
    assert parse_spec("jsonl:/x/y.jsonl") == ("jsonl", Path("/x/y.jsonl"))
    for bad in ("csv:/x", "jsonl:", "/x/y.jsonl"):
        with pytest.raises(ValueError, match="KIND:PATH"):
            parse_spec(bad)


def test_applied_samples_change_lengths_not_arrivals_or_slos() -> None:
    workload = generate(load_scenario("reasoning"), 5, seed=3)
    samples = [Sample("p1", 11, 40), Sample("p2", 22, 7)]
    applied, texts = apply(workload, samples)
    before = sorted(workload.sessions, key=lambda s: s.start_s)
    after = sorted(applied.sessions, key=lambda s: s.start_s)
    order = [(s.session_id, i) for s in before for i in range(len(s.calls))]
    assert [texts[k] for k in order] == [("p1", "p2")[k % 2] for k in range(len(order))]
    for old, new in zip(before, after, strict=True):
        assert (old.start_s, old.request_class) == (new.start_s, new.request_class)
        for i, (o, n) in enumerate(zip(old.calls, new.calls, strict=True)):
            sample = samples[order.index((old.session_id, i)) % len(samples)]
            assert (n.prompt_tokens, n.output_tokens) == (sample.prompt_tokens,
                                                          sample.output_tokens)
            assert [p.tpot_ms for p in n.phases] == [p.tpot_ms for p in o.phases]
            assert n.ttft_slowdown == o.ttft_slowdown
