"""Test-suite settings: one torch thread per pytest-xdist worker.

With two workers on two cores, each worker's default of one thread per core
oversubscribes the machine (seen: ~10x slower). Single-threaded runs are also
deterministic regardless of the machine's core count.
"""
import os

import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


import pytest  # noqa: E402

# POT's pattern: every device-sensitive test runs on the CPU, and on CUDA where a GPU is visible
# (a CPU-only machine reports the CUDA cases as skipped, so a GPU run shows what it covered).
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                   reason="no CUDA GPU visible"))]


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)
