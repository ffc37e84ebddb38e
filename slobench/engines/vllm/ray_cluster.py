"""Joining a Ray cluster (`--ray-address auto|HOST:PORT`): the one place slobench
calls `ray.init`. Imported only when a run asks for Ray, so nothing else imports Ray.

The driver ships its own copy of the `slobench` package to the workers
(`runtime_env.py_modules`): every node runs the driver's code, whatever version of
slobench (if any) is installed there, so probes and replicas behave as on the head.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import slobench
from slobench.core.errors import input_error


def connect(address: str) -> Any:
    """`ray` after joining the cluster at `address` (once per process)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")   # no usage reports, ever
    import ray

    if not ray.is_initialized():
        package = Path(slobench.__file__).resolve().parent
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False,
                     runtime_env={"py_modules": [str(package)],
                                  "excludes": ["__pycache__", "*.pyc"]})
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise input_error("--ray-address", None, f"cannot join a Ray cluster at "
                              f"{address}: {str(exc).strip().splitlines()[0]}") from None
    return ray


def cluster_resource(ray: Any, name: str) -> float:
    """How much of a resource (CPU, GPU) the whole cluster has."""
    return float(ray.cluster_resources().get(name, 0.0))
