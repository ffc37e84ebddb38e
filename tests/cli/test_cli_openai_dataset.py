"""`slobench run --engine openai --dataset ...` against the stub server: the file's text
prompts are sent, their lengths measured (a model folder's tokenizer, or the server's
/tokenize), the scenario's arrivals kept; bad files stop before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from cli_inproc import invoke

from slobench.engines.vllm.tiny_model import make_prompt, write_tiny_model
from tests.support.stub_server import running_stub

RUN = ["run", "--engine", "openai", "-s", "chatbot", "--rates", "2", "--requests", "6",
       "--warm-requests", "0", "--no-report"]


def _calls_in_send_order(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "requests.parquet").sort_values("scheduled_send_s")


def test_jsonl_prompts_are_sent_with_their_output_lengths(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    rows = [{"prompt": make_prompt(5 + 3 * i, seed=i), "output_tokens": 4 + i}
            for i in range(3)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = write_tiny_model(tmp_path / "tiny")
    out = tmp_path / "run"
    with running_stub(0.002, 0.001) as url:
        ran = invoke(*RUN, "--url", url, "--out", str(out), "--dataset", f"jsonl:{data}",
                     "--tokenizer", str(model))
    assert ran.code == 0, ran.text
    calls = _calls_in_send_order(out)
    assert (calls["status"] == "ok").all()
    # Six calls take the three records in file order, twice; the stub counts words.
    assert list(calls["output_tokens"]) == [4, 5, 6] * 2
    assert list(calls["prompt_tokens"]) == [5, 8, 11] * 2


def test_sharegpt_lengths_come_from_the_server_s_tokenize(tmp_path: Path) -> None:
    data = tmp_path / "sg.json"
    data.write_text(json.dumps([{"conversations": [
        {"from": "human", "value": "a b c d"}, {"from": "gpt", "value": "w x y z v"}]}]))
    out = tmp_path / "run"
    with running_stub(0.002, 0.001) as url:
        ran = invoke(*RUN, "--url", url, "--out", str(out), "--dataset", f"sharegpt:{data}")
    assert ran.code == 0, ran.text
    calls = _calls_in_send_order(out)
    assert (calls["output_tokens"] == 5).all() and (calls["prompt_tokens"] == 4).all()


def test_a_bad_dataset_line_stops_the_run_before_any_server_is_asked(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text('{"prompt": "x", "output_tokens": 2}\n{"prompt": 3}\n')
    ran = invoke(*RUN, "--url", "http://127.0.0.1:9", "--out", str(tmp_path / "r"),
                 "--dataset", f"jsonl:{data}")
    assert ran.code == 2
    assert ran.one_line_error() == (f"slobench: {data}: line 2: needs a non-empty string "
                                    "'prompt'")


def test_an_empty_dataset_and_the_simulator_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    ran = invoke(*RUN, "--url", "http://127.0.0.1:9", "--out", str(tmp_path / "r"),
                 "--dataset", f"sharegpt:{empty}")
    assert ran.code == 2 and "empty.json: the dataset holds no record" in ran.one_line_error()
    sim = invoke("run", "-s", "chatbot", "--rates", "1", "--out", str(tmp_path / "s"),
                 "--dataset", f"sharegpt:{empty.with_name('x.json')}")
    assert sim.code == 2
