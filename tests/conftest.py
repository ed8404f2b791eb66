"""Shared test configuration: hypothesis profiles.

The default profile, ``ci``, is derandomized with no deadline, so the suite gives the
same result on every run and never fails because a machine is slow. Set
``HYPOTHESIS_PROFILE=dev`` to explore with fresh random examples each run.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
