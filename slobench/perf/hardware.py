"""Accelerator specs: datasheet peaks and the fraction of them real kernels reach.

The roofline model (`roofline.py`) only ever uses *achievable* rates, i.e. peak x
efficiency; keeping the two apart lets a user plug in a new GPU from its datasheet
and a few measured efficiencies instead of guessing a single blended number.

Calibration (issue #18). The efficiencies below are fitted to published per-operation
kernel timings: Vidur's profiling data (github.com/microsoft/vidur, MIT licence,
`data/profiling/compute/{a100,h100}/meta-llama/Llama-2-7b-hf/mlp.csv`, medians of the
QKV, output, gate+up and down projections and of the norms, rotary embedding,
activation and residual add, tensor-parallel 1, 1 to 4,096 tokens). An extract ships as
test data in `tests/perf/data/` and `tests/perf/test_roofline_calibration.py` holds the
fit to it. What the data show, and so what the roofline does:

- GEMM time rises in steps just past multiples of 128 tokens (and of 64 below 128):
  the compute term counts tokens rounded up to that tile (`gemm_tile`,
  `gemm_tile_small`);
- near the switch from memory- to compute-bound a GEMM is slower than either roof
  alone, so a kernel takes hypot(compute, memory) rather than max(compute, memory);
  fitted together with the efficiencies this is within 4% on average of the A100
  points (the plain max with the old efficiencies was 17% too fast, up to 54%);
- the large-batch GEMMs of a 7B model reach ~0.73 of peak FLOP/s on A100 and ~0.74 on
  H100, below the 0.80-0.81 of an 8192^3 GEMM (SPEC §6);
- element-wise kernels (norms, rotary, activation, residual adds) stream at about half
  of peak bandwidth and take at least a few microseconds each (`elementwise_eff`,
  `kernel_floor_s`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from slobench.perf.spec_fields import check_fields, positive_int

GIB = 1024**3


@dataclass(frozen=True)
class HardwareSpec:
    """One accelerator (one GPU); tensor parallelism multiplies it in the model."""

    name: str
    peak_flops: float               # bf16 dense tensor-core peak, FLOP/s
    mem_bw: float                   # HBM bandwidth, B/s (datasheet)
    mem_bytes: float                # device memory, bytes
    compute_eff: float = 0.73       # achieved / peak FLOP/s for the model's GEMMs
    mem_eff: float = 0.85           # achieved / peak bandwidth for weight and KV reads
    allreduce_bw: float = 200e9     # NCCL "bus bandwidth" of the GPU interconnect, B/s
    allreduce_latency_s: float = 10e-6  # fixed cost of one (small) all-reduce
    step_overhead_s: float = 3e-3   # per batch step: scheduling, launch, sampling (CPU side)
    elementwise_eff: float = 0.5    # achieved / peak bandwidth of element-wise kernels
    kernel_floor_s: float = 4e-6    # shortest time of one (tiny) element-wise kernel
    gemm_tile: int = 128            # GEMM compute counts tokens in multiples of this...
    gemm_tile_small: int = 64       # ...or of this for batches up to gemm_tile tokens

    def __post_init__(self) -> None:
        kind = "hardware"
        check_fields(self, kind, ("peak_flops", "mem_bw", "mem_bytes", "allreduce_bw"),
                     lambda v: isinstance(v, int | float) and math.isfinite(v) and v > 0,
                     "must be > 0")
        check_fields(self, kind, ("compute_eff", "mem_eff", "elementwise_eff"),
                     lambda v: isinstance(v, int | float) and 0 < v <= 1, "must be in (0, 1]")
        check_fields(self, kind, ("allreduce_latency_s", "step_overhead_s", "kernel_floor_s"),
                     lambda v: isinstance(v, int | float) and math.isfinite(v) and v >= 0,
                     "must be >= 0")
        check_fields(self, kind, ("gemm_tile", "gemm_tile_small"), positive_int,
                     "must be an integer >= 1")
        if self.gemm_tile % self.gemm_tile_small:
            raise ValueError(f"hardware {self.name}: gemm_tile {self.gemm_tile} is not a "
                             f"multiple of gemm_tile_small {self.gemm_tile_small}")

    @property
    def flops(self) -> float:
        """Achievable FLOP/s of one device."""
        return self.peak_flops * self.compute_eff

    @property
    def bandwidth(self) -> float:
        """Achievable memory bandwidth of one device, B/s."""
        return self.mem_bw * self.mem_eff


# A100-80GB SXM: datasheet 312 TFLOP/s bf16 dense, ~2.0 TB/s. Fitted to Vidur's A100
# Llama-2-7B points (55 token counts, 1-4,096): compute_eff 0.73 (large batches measure
# 0.69-0.76 of peak), mem_eff 0.86 in the hypot form (weight streaming alone at 1 token
# measures 0.785), tiles 128/64 from where the measured steps are; element-wise
# kernels 0.51 of peak bandwidth with a 4.3 us floor each (fit over the same points,
# mean error 4%). The interconnect (~230 GB/s NCCL all-reduce bus bandwidth over
# NVLink3) and the 3 ms CPU-side step overhead are assumptions, not measurements.
A100 = HardwareSpec(
    name="a100",
    peak_flops=312e12,
    mem_bw=2.0e12,
    mem_bytes=80 * GIB,
    compute_eff=0.73,
    mem_eff=0.86,
    allreduce_bw=230e9,
    allreduce_latency_s=10e-6,
    step_overhead_s=3e-3,
    elementwise_eff=0.51,
    kernel_floor_s=4.3e-6,
)

# H100 SXM 80GB: fitted to Vidur's H100 Llama-2-7B points (1-256 and 3,456-4,096
# tokens): compute_eff 0.74 (large batches 0.72-0.76 of peak; the 8192^3 GEMM of
# SPEC §6 reaches 0.81), mem_eff 0.78 (weight streaming at 2 tokens measures 0.80);
# the same 128/64 tiles fit. H100's small-batch GEMMs are slower than either roof
# between 72 and 256 tokens (the fit is 11-17% fast there). Element-wise kernels from
# two Vidur rows (1 and 4,096 tokens): ~0.53 of peak bandwidth, ~3.3 us floor each.
# NVLink4 all-reduce bandwidth (~450 GB/s) is an assumption.
H100 = HardwareSpec(
    name="h100",
    peak_flops=989e12,
    mem_bw=3.35e12,
    mem_bytes=80 * GIB,
    compute_eff=0.74,
    mem_eff=0.78,
    allreduce_bw=450e9,
    allreduce_latency_s=10e-6,
    step_overhead_s=3e-3,
    elementwise_eff=0.53,
    kernel_floor_s=3.3e-6,
)

# H200 141 GB: no kernel measurements found. It is the H100's chip with faster HBM3e,
# and SPEC §6's ceilings are alike on both (769-798 TFLOP/s; copies at 0.90 of peak
# bandwidth on each), so it takes the H100's fitted efficiencies: an ASSUMPTION. Only
# the memory differs.
H200 = replace(H100, name="h200", mem_bw=4.8e12, mem_bytes=141e9)

SHIPPED_HARDWARE: tuple[HardwareSpec, ...] = (A100, H100, H200)
