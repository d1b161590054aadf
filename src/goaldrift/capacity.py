"""How many runs of a harness fit in this machine's memory at once.

Runs spend their time waiting on model APIs, so what bounds how many run at once on one machine is
memory, not cores: an OpenCode run (Node, its language servers) peaks at ~670 MB resident
(docs/opencode.md), the builtin agent at a few MB. The runner never starts more runs of a harness at
once than fit in the memory available when it starts, less a reserve for goaldrift itself, so
``-j 64`` on a small machine queues runs instead of swapping or meeting the OOM killer.
``goaldrift doctor`` reports the same number.
"""

from __future__ import annotations

import psutil

MIB = 2**20
MEMORY_PER_RUN = {"opencode": 800 * MIB}  # measured peak ~670 MB, rounded up
RESERVE = 512 * MIB  # goaldrift, the gateway, git and the scoring threads


def runs_that_fit(harness: str, available: int | None = None) -> int | None:
    """Runs of ``harness`` that fit in ``available`` bytes (default: available now); at least 1.
    None for a harness whose memory is negligible."""
    per_run = MEMORY_PER_RUN.get(harness)
    if per_run is None:
        return None
    if available is None:
        available = psutil.virtual_memory().available
    return max(1, (available - RESERVE) // per_run)
