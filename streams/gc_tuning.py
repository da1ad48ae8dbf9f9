"""The garbage collector of the worker and the replay: start-up objects frozen, fewer young collections.

CPython's cyclic collector runs after every 700 net allocations and, every hundredth time, walks every object
the process holds; the worker holds ~240,000 after start-up (faust, aiokafka, pydantic schemas) and allocates
hundreds per record, so its full collections came every second or so and took ~90 ms each, with the loop
stopped: 3.1 s of a 41 s throughput run, and a 90 ms stall for every record in flight at the time
(docs/BENCHMARKS.md, "Garbage collection"). What the worker allocates per record is freed by reference
counting; the collector is only needed for the rare cycle, which it still finds, later. `lytewatch replay`
spent ~4 % of its time in it, holding every patient's state in memory.
"""

from __future__ import annotations

import gc

#: Net allocations between two collections of the youngest generation (CPython's default: 700).
YOUNG_THRESHOLD = 50_000
#: Collections of a generation before the next older one is collected too (CPython's defaults: 10, 10).
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 10


def tune() -> None:
    """Freeze what exists now (modules, the app, its services) out of every collection; collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
