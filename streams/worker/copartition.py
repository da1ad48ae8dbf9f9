"""Start-up check: are the input topics co-partitioned with the patient table (one-hop engine possible)?"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from streams.kafka import admin_client
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EnginePath:
    """Which engine the worker runs, and why (shown in the log and in /readyz)."""

    one_hop: bool
    detail: str


#: The faust table of per-patient state; its changelog topic must be co-partitioned with the inputs.
PATIENT_TABLE = "patients"

NOT_CHECKED = EnginePath(one_hop=False, detail="re-key path: co-partitioning was not checked")


def changelog_topic(settings: Settings) -> str:
    """faust's changelog topic of the patient table (`<app id>-<table name>-changelog`)."""
    return f"{settings.app_id}-{PATIENT_TABLE}-changelog"


def engine_path(settings: Settings, partitions: dict[str, int]) -> EnginePath:
    """Decide from the topics' partition counts; a missing changelog is fine (faust creates it to match)."""
    table = settings.partitions
    wanted = [*settings.input_topics.values(), settings.topic_patient_events]
    mismatched = [f"{name} has {partitions.get(name, 0)}" for name in wanted if partitions.get(name) != table]
    changelog = partitions.get(changelog_topic(settings))
    if changelog is not None and changelog != table:
        mismatched.append(f"{changelog_topic(settings)} has {changelog}")
    if mismatched:
        return EnginePath(
            one_hop=False,
            detail=(
                f"re-key path: input topics not co-partitioned with the patient table ({table} partitions, "
                f"LYTEWATCH_PARTITIONS): {'; '.join(mismatched)}. Every input goes through "
                f"{settings.topic_patient_events}, without record-timestamp order across topics"
            ),
        )
    return EnginePath(
        one_hop=True,
        detail=(
            f"one hop: the input topics and the patient table share {table} partitions; keyed input is "
            "applied on its own partition in record-timestamp order across topics"
        ),
    )


async def check_copartitioning(settings: Settings) -> EnginePath:
    """Read the partition counts from the broker and decide; says which path in the log."""
    admin = admin_client(settings)
    await admin.start()
    try:
        wanted = [*settings.input_topics.values(), settings.topic_patient_events, changelog_topic(settings)]
        existing = set(await admin.list_topics())
        described = await admin.describe_topics([name for name in wanted if name in existing])
        partitions = {d["topic"]: len(d.get("partitions", [])) for d in described}
    finally:
        await admin.close()
    path = engine_path(settings, partitions)
    if path.one_hop:
        log.info("engine path: %s", path.detail)
    else:
        log.warning("engine path: %s", path.detail)
    return path
