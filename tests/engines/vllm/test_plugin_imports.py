"""The plugin runs inside vLLM's own venv, which has no pandas, pyarrow or plotly (its
set-up script adds only scipy): what it imports from slobench must not need them."""

from __future__ import annotations

import subprocess
import sys

PLUGIN_IMPORTS = ("slobench.engines.vllm.plugin.config", "slobench.engines.vllm.plugin.steplog",
                  "slobench.engines.vllm.plugin.mirror",
                  "slobench.engines.vllm.plugin.core_setup",
                  "slobench.perf.feedback", "slobench.perf.measured", "slobench.perf.fitted",
                  "slobench.sched.slos.policy", "slobench.sched.interface")


def test_plugin_dependencies_import_without_pandas() -> None:
    code = ("import sys\n"
            "for name in ('pandas', 'pyarrow', 'plotly'):\n"
            "    sys.modules[name] = None\n"
            + "".join(f"import {m}\n" for m in PLUGIN_IMPORTS))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
