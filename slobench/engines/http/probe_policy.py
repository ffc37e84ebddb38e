"""How a real-engine probe is measured so that it survives a noisy host (SPEC §4, §10).

These VMs show stalls of seconds with almost no CPU used (the client is simply not run);
a probe that a stall hit measures the host, not the scheduler. The same policy applies
to every backend: the same warm-up, the same stall threshold, the same re-runs.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProbePolicy:
    warm_requests: int = 4            # uncounted requests through the whole path first
    stall_threshold_s: float = 0.25   # a client stall longer than this spoils a probe ...
    max_stall_reruns: int = 2         # ... which is run again, at most this many times

    def __post_init__(self) -> None:
        if self.warm_requests < 0:
            raise ValueError(f"warm_requests must be >= 0, got {self.warm_requests}")
        if self.stall_threshold_s <= 0:
            raise ValueError(f"stall_threshold_s must be > 0, got {self.stall_threshold_s}")
        if self.max_stall_reruns < 0:
            raise ValueError(f"max_stall_reruns must be >= 0, got {self.max_stall_reruns}")


def client_major_faults() -> int:
    """Major page faults of this process so far (paging would explain idle stalls)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_majflt)


def group_major_faults(group_ids: list[int]) -> int:
    """Major page faults of every live process in these process groups (the servers)."""
    wanted, total = set(group_ids), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
        if len(fields) > 7 and int(fields[2]) in wanted:
            total += int(fields[7])
    return total


def cpu_model() -> str:
    """The CPU's model name (machines of one kind differ several-fold per token)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return os.uname().machine
