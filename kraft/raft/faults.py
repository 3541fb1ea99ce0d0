"""Network faults of the Raft transport, for fault-injection tests only.

Owns: which peers a node cannot hear or reach (a partition is this set, made symmetric by setting it
on both sides), and random loss and duplication of incoming messages from a seeded generator, so a
failing run can be replayed. A node accepts these only when started with ``KRAFT_FAULTS=1``.
Must not: be consulted when faults are off (the host holds ``None`` then).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

ENV_SWITCH = "KRAFT_FAULTS"


def faults_allowed() -> bool:
    return os.environ.get(ENV_SWITCH) == "1"


@dataclass
class NetworkFaults:
    blocked: set[int] = field(default_factory=set)  # peers cut off, both directions
    loss: float = 0.0  # probability that an incoming message is dropped
    duplicate: float = 0.0  # probability that an incoming message is delivered twice
    seed: int = 0
    delay_s: float = 0.0  # every incoming frame is held this long (a slow network; order per peer kept)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        if not (0.0 <= self.loss <= 1.0 and 0.0 <= self.duplicate <= 1.0):
            raise ValueError("loss and duplicate are probabilities")
        if not 0.0 <= self.delay_s <= 10.0:
            raise ValueError("delay_s must be 0..10 seconds")
        self.rng = random.Random(self.seed)

    def copies(self) -> int:
        """How many times to deliver the next incoming message: 0, 1 or 2."""
        if self.loss and self.rng.random() < self.loss:
            return 0
        if self.duplicate and self.rng.random() < self.duplicate:
            return 2
        return 1
