import os

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
