"""Which agents a worker runs: the one-hop engine when the inputs are co-partitioned, else the re-key path."""

from __future__ import annotations

from typing import Any

from streams.worker import prefilter
from streams.worker.agents import _engine_agent, _ingest_agent, _watch_crashes
from streams.worker.gaps import GapGuard
from streams.worker.housekeeping import register_timers
from streams.worker.onehop import register_one_hop
from streams.worker.runtime import Runtime


def register_agents(runtime: Runtime) -> None:
    """The one-hop engine (streams.worker.onehop) when the inputs are co-partitioned with the table, else
    the re-key path: one ingest agent per input topic and the engine on patient-events."""
    guards: list[GapGuard] = []
    ignored = prefilter.of(runtime.app)

    def new_guard() -> GapGuard:
        return GapGuard(runtime.settings, runtime.app.consumer, ignored)

    if runtime.engine_path.one_hop:
        if ignored is not None:
            # The engine takes the records the filter carries past faust (with the gap guard's read-backs).
            ignored.carry = True
        guard = new_guard()
        guards.append(guard)
        register_one_hop(runtime, guard)
    else:
        for kind, topic in runtime.inputs.items():
            guard = new_guard()
            guards.append(guard)
            runtime.app.agent(topic, name=f"lytewatch.ingest.{kind}")(_ingest_agent(runtime, kind, guard))  # type: ignore[arg-type]
        guard = new_guard()
        guards.append(guard)
        runtime.app.agent(runtime.patient_events, name="lytewatch.engine")(_engine_agent(runtime, guard))

    for agent in runtime.app.agents.values():
        _watch_crashes(agent, runtime.watch)

    @runtime.app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(app: Any, assigned: Any, **kwargs: Any) -> None:
        for each in guards:
            each.forget(assigned)

    register_timers(runtime)
