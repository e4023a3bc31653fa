import os

import pytest
import torch
from hypothesis import HealthCheck, settings

# JIT compilation makes first examples slow; CI runs a fixed, modest number of examples.
settings.register_profile(
    "lab",
    deadline=None,
    max_examples=int(os.environ.get("LAB_HYPOTHESIS_EXAMPLES", "40")),
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.load_profile("lab")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module's tiny models: thread hand-offs cost more than they
    save, badly so on a shared machine. Use with ``pytest.mark.usefixtures``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
