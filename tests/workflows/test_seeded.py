"""The seeded uuids of an execution: the same strings ``uuid.UUID(version=4)`` makes, so that
executions stored before keep replaying to the same history."""

from __future__ import annotations

import random
import uuid

from eventbus.workflows.driver import seeded


def test_seeded_uuids_are_the_version_4_uuids_of_the_seeded_bits() -> None:
    for seed in (0, 1, 7, 2**40 + 3):
        made, _ = seeded(seed)
        rng = random.Random(seed)
        for _ in range(200):
            assert made() == str(uuid.UUID(int=rng.getrandbits(128), version=4))
