"""Shared test configuration: hypothesis profiles and the ``torch`` marker.

The default profile, ``ci``, is derandomized with no deadline, so the suite gives the
same result on every run and never fails because a machine is slow. Set
``HYPOTHESIS_PROFILE=dev`` to explore with fresh random examples each run.
``HYPOTHESIS_PROFILE=light`` is ``ci`` with a quarter of the examples: ``.ci/run`` uses it
for the engine and nn tests on the other Pythons and the lowest dependency versions.

Tests marked ``torch`` compare with PyTorch itself. The README's test command does not
install torch, so there they are skipped, saying so; ``.ci/run`` installs
``torch==2.13.0`` and runs them (``pytest -m torch``).
"""

import importlib.util
import os

import pytest
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
settings.register_profile("light", settings.get_profile("ci"), max_examples=25)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config, items):
    if importlib.util.find_spec("torch") is not None:
        return
    skip = pytest.mark.skip(
        reason="needs torch==2.13.0 (pip install -e '.[torch]'); .ci/run's torch stage runs it"
    )
    for item in items:
        if item.get_closest_marker("torch") is not None:
            item.add_marker(skip)
