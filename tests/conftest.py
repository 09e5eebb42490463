"""Test-suite settings: one torch thread per pytest-xdist worker.

With two workers on two cores, each worker's default of one thread per core
oversubscribes the machine (seen: ~10x slower). Single-threaded runs are also
deterministic regardless of the machine's core count.
"""
import os

import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
