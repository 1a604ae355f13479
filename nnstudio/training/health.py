"""Reading layer statistics: which layers' gradients vanish or explode, whose ReLUs died.

Qt-free, so the rules are tested on plain numbers. A gradient counts as
vanishing when it is tiny in absolute terms or next to the network's largest
(the layers before it then barely learn), and as exploding when it is huge or
not finite. A ReLU is called dead when half of its units give zero for every
probe sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from nnstudio.training.events import LayerStat

VANISHING_ABS = 1e-7
VANISHING_REL = 1e-4  # of the largest gradient norm in the network
EXPLODING = 1e3
DEAD_SHARE = 0.5


@dataclass(frozen=True)
class HealthWarning:
    kind: str  # "vanishing", "exploding", "dead", or "inside" (layers inside a block instance)
    message: str
    short: str = ""  # a few words for a tag; empty: the kind's usual words


def inside(problems: Mapping[str, list[HealthWarning]]) -> HealthWarning:
    """One warning for a block instance summing up the warnings of layers inside it (by path)."""
    count = len(problems)
    lines = [f"{path}: {w.message}" for path, found in problems.items() for w in found]
    return HealthWarning(
        "inside",
        "\n\n".join(lines),
        f"{count} layer{'s' if count != 1 else ''} inside need{'s' if count == 1 else ''} attention",
    )


def judge(stats: Mapping[str, LayerStat]) -> dict[str, list[HealthWarning]]:
    """Warnings per node id or inner path (those without any are absent)."""
    norms = [s.grad_norm for s in stats.values() if math.isfinite(s.grad_norm)]
    largest = max(norms, default=0.0)
    result: dict[str, list[HealthWarning]] = {}
    for node_id, stat in stats.items():
        found = []
        g = stat.grad_norm
        if math.isinf(g) or (math.isfinite(g) and g > EXPLODING):
            found.append(
                HealthWarning(
                    "exploding",
                    (
                        f"Gradients explode here (norm {g:.3g}): training will jump around or diverge. "
                        "Lower the learning rate or add normalisation."
                    ),
                )
            )
        elif math.isfinite(g) and largest > 0 and (g < VANISHING_ABS or g < VANISHING_REL * largest):
            found.append(
                HealthWarning(
                    "vanishing",
                    (
                        f"Gradients vanish here (norm {g:.2g}, largest in the network {largest:.2g}): this layer "
                        "and those before it barely learn. Try ReLU instead of Sigmoid/Tanh, normalisation "
                        "or a skip connection."
                    ),
                )
            )
        d = stat.dead_fraction
        if math.isfinite(d) and d >= DEAD_SHARE:
            found.append(
                HealthWarning(
                    "dead",
                    (
                        f"{100 * d:.0f}% of this ReLU's units are zero for every probe sample (dead ReLUs): "
                        "they no longer learn. Try a lower learning rate or LeakyReLU."
                    ),
                )
            )
        if found:
            result[node_id] = found
    return result
