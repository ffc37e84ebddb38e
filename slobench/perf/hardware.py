"""Accelerator specs: datasheet peaks and the fraction of them a real engine reaches.

The roofline model (`roofline.py`) only ever uses *achievable* rates, i.e. peak x
efficiency; keeping the two apart lets a user plug in a new GPU from its datasheet
and one measured efficiency instead of guessing a single blended number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class HardwareSpec:
    """One accelerator (one GPU); tensor parallelism multiplies it in the model."""

    name: str
    peak_flops: float               # bf16 dense tensor-core peak, FLOP/s
    mem_bw: float                   # HBM bandwidth, B/s (datasheet)
    mem_bytes: float                # device memory, bytes
    compute_eff: float = 0.80       # achieved / peak FLOP/s for large GEMMs
    mem_eff: float = 0.85           # achieved / peak bandwidth for streaming reads
    allreduce_bw: float = 200e9     # NCCL "bus bandwidth" of the GPU interconnect, B/s
    allreduce_latency_s: float = 10e-6  # fixed cost of one (small) all-reduce
    step_overhead_s: float = 3e-3   # per batch step: scheduling, launch, sampling (CPU side)

    def __post_init__(self) -> None:
        for field_name in ("peak_flops", "mem_bw", "mem_bytes", "allreduce_bw"):
            value = getattr(self, field_name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"hardware {self.name}: {field_name} must be > 0, got {value!r}")
        for field_name in ("compute_eff", "mem_eff"):
            value = getattr(self, field_name)
            if not (isinstance(value, int | float) and 0 < value <= 1):
                raise ValueError(
                    f"hardware {self.name}: {field_name} must be in (0, 1], got {value!r}"
                )
        for field_name in ("allreduce_latency_s", "step_overhead_s"):
            value = getattr(self, field_name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"hardware {self.name}: {field_name} must be >= 0, got {value!r}")

    @property
    def flops(self) -> float:
        """Achievable FLOP/s of one device."""
        return self.peak_flops * self.compute_eff

    @property
    def bandwidth(self) -> float:
        """Achievable memory bandwidth of one device, B/s."""
        return self.mem_bw * self.mem_eff


# A100-80GB SXM: datasheet 312 TFLOP/s bf16 dense, ~2.0 TB/s. No measurement of ours
# exists for it, so the efficiencies are an ASSUMPTION: ~80% of peak for large bf16
# GEMMs and ~85% of HBM bandwidth are what A100s typically achieve. The interconnect
# figure (~230 GB/s NCCL all-reduce bus bandwidth over NVLink3) is likewise a typical
# nccl-tests result, not one measured here.
A100 = HardwareSpec(
    name="a100",
    peak_flops=312e12,
    mem_bw=2.0e12,
    mem_bytes=80 * GIB,
    compute_eff=0.80,
    mem_eff=0.85,
    allreduce_bw=230e9,
    allreduce_latency_s=10e-6,
    step_overhead_s=3e-3,
)

# H100 SXM 80GB: efficiencies from the ceilings in SPEC §6, measured on a real H100:
# an 8192^3 bf16 GEMM at 798 TFLOP/s (798/989 = 0.81) and a device-to-device copy at
# ~3.0 TB/s of 3.35 (0.90). NVLink4 all-reduce bandwidth (~450 GB/s) is an assumption.
H100 = HardwareSpec(
    name="h100",
    peak_flops=989e12,
    mem_bw=3.35e12,
    mem_bytes=80 * GIB,
    compute_eff=0.81,
    mem_eff=0.90,
    allreduce_bw=450e9,
    allreduce_latency_s=10e-6,
    step_overhead_s=3e-3,
)

# H200 141 GB: measured 769-798 TFLOP/s (~0.80 of 989) and ~4.3 TB/s of 4.8 (0.90),
# SPEC §6. Same NVLink4 fabric as the H100, so the same all-reduce assumption.
H200 = HardwareSpec(
    name="h200",
    peak_flops=989e12,
    mem_bw=4.8e12,
    mem_bytes=141e9,
    compute_eff=0.80,
    mem_eff=0.90,
    allreduce_bw=450e9,
    allreduce_latency_s=10e-6,
    step_overhead_s=3e-3,
)

SHIPPED_HARDWARE: tuple[HardwareSpec, ...] = (A100, H100, H200)
