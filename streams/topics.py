"""Creating the registry's topics (streams.topic_registry) idempotently, and waiting for the broker."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from streams.broker_access import BrokerAccessError, check_broker_access
from streams.kafka import admin_client
from streams.settings import Settings
from streams.topic_registry import TOPICS

log = logging.getLogger(__name__)

_DAY_MS = 24 * 3600 * 1000
MAX_BACKOFF_S = 5.0


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    purpose: str
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The topics of the registry as configured (faust creates its own changelog topics)."""
    configs = {
        "input": {"retention.ms": str(int(settings.input_retention_days * _DAY_MS))},
        "kept_long": {"retention.ms": str(int(settings.deadletter_retention_days * _DAY_MS))},
        "compacted": {"cleanup.policy": "compact"},
    }
    return [
        TopicSpec(
            getattr(settings, topic.setting),
            topic.partitions or settings.partitions,
            topic.purpose,
            dict(configs[topic.retention]),
        )
        for topic in TOPICS
    ]


async def ensure_topics(settings: Settings) -> list[tuple[TopicSpec, str]]:
    """Create missing topics; return each spec with "created" or "exists (N partitions)"."""
    admin: AIOKafkaAdminClient = admin_client(settings)
    await admin.start()
    try:
        existing = await _partition_counts(admin)
        report: list[tuple[TopicSpec, str]] = []
        for spec in topic_specs(settings):
            if spec.name in existing:
                report.append((spec, f"exists ({existing[spec.name]} partitions)"))
                continue
            try:
                await admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, 1, topic_configs=spec.config)]
                )
                report.append((spec, "created"))
            except TopicAlreadyExistsError:
                # Another process created it between our listing and our request.
                report.append((spec, "exists"))
        return report
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient) -> dict[str, int]:
    names = await admin.list_topics()
    if not names:
        return {}
    described = await admin.describe_topics(list(names))
    return {d["topic"]: len(d.get("partitions", [])) for d in described}


async def wait_for_broker(
    settings: Settings, *, give_up_after: float | None = None
) -> list[tuple[TopicSpec, str]]:
    """Retry until the broker answers and every topic exists (returns what was created or found).

    A worker may start before its broker: it waits here, saying so once, instead of crashing. A broker
    that refuses our TLS or SASL settings raises BrokerAccessError at once: waiting would not help.
    """
    delay = 0.5
    started = time.monotonic()
    announced = False
    while True:
        problem = None
        try:
            if await check_broker_access(settings):
                report = await ensure_topics(settings)
            else:
                problem = "no bootstrap server answered"
        except (KafkaError, OSError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem is not None:
            if give_up_after is not None and time.monotonic() - started > give_up_after:
                raise BrokerAccessError(
                    f"broker {settings.bootstrap_servers} not reachable after {give_up_after:.0f} s "
                    f"({problem}): check LYTEWATCH_BROKER and LYTEWATCH_BROKER_SECURITY_PROTOCOL"
                )
            if not announced:
                servers = settings.bootstrap_servers
                log.warning("broker %s not reachable (%s); waiting for it", servers, problem)
                announced = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
            continue
        created = [spec.name for spec, outcome in report if outcome == "created"]
        if created:
            log.info("created topics: %s", ", ".join(created))
        log.info("broker %s reachable; topics ready", settings.bootstrap_servers)
        return report
