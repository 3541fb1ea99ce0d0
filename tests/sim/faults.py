"""The fault schedule of a simulated run, drawn from its seed.

Each fault carries its own duration, so removing one from a schedule (to shrink a failing run to a
minimal one) also removes its undoing. Kinds:
    crash a (down for ``value`` s, then restarted from what it fsynced)
    wipe a (crash, then restarted with an empty disk after ``value`` s: only with ``empty_disks``)
    pause a (no driver iterations for ``value`` s: a long GC pause or a stopped VM)
    cut a b (no traffic either way for ``value`` s)        oneway a b (a's messages to b lost)
    loss / duplicate (a probability for ``value`` s)          jitter (reordering) / delay (a slow network)
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str
    a: int = 0
    b: int = 0
    value: float = 0.0  # duration in seconds
    level: float = 0.0  # probability (loss, duplicate) or seconds (jitter, delay)

    def __str__(self) -> str:
        who = f" {self.a}" if self.a else ""
        who += f"->{self.b}" if self.b else ""
        level = f" level={self.level:g}" if self.level else ""
        return f"t={self.at:.3f}s {self.kind}{who} for {self.value:.2f}s{level}"


KINDS = ("crash", "pause", "cut", "oneway", "loss", "duplicate", "jitter", "delay")


def draw_schedule(rng: random.Random, nodes: list[int], duration_s: float, empty_disks: bool) -> list[Fault]:
    kinds = KINDS + (("wipe",) if empty_disks else ())
    out: list[Fault] = []
    t = rng.uniform(0.5, 2.0)
    while t < duration_s:
        kind = rng.choice(kinds)
        a, b = rng.sample(nodes, 2)
        if kind in ("crash", "wipe"):
            out.append(Fault(t, kind, a=a, value=rng.uniform(0.2, 6.0)))
        elif kind == "pause":
            out.append(Fault(t, kind, a=a, value=rng.choice((rng.uniform(0.2, 2.0), rng.uniform(3.0, 12.0)))))
        elif kind in ("cut", "oneway"):
            out.append(Fault(t, kind, a=a, b=b, value=rng.uniform(0.5, 10.0)))
        elif kind in ("loss", "duplicate"):
            out.append(Fault(t, kind, value=rng.uniform(1.0, 8.0), level=rng.uniform(0.05, 0.4)))
        elif kind == "jitter":
            out.append(Fault(t, kind, value=rng.uniform(1.0, 8.0), level=rng.uniform(0.005, 0.2)))
        else:
            out.append(Fault(t, kind, value=rng.uniform(1.0, 8.0), level=rng.uniform(0.05, 1.0)))
        t += rng.expovariate(1 / 1.5)
    return out
