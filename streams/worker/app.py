"""The faust application built from the settings: topics, the patient table, agents, timers and web pages."""

from __future__ import annotations

from typing import Any

import faust

from alerts.codes import load_code_mapping
from alerts.rulesfile import load_rules
from streams import __version__
from streams.edges.cds_hooks import register_cds_pages
from streams.kafka import ssl_context
from streams.logs import logging_config
from streams.metrics import Metrics
from streams.settings import Settings
from streams.worker import (
    faust_fixes,
    fetch_wait,
    inloop,
    offset_gaps,
    prefilter,
    stale_store,
    standby_handover,
)
from streams.worker.copartition import NOT_CHECKED, PATIENT_TABLE, EnginePath
from streams.worker.health import register_pages
from streams.worker.runtime import Runtime
from streams.worker.sensor import LeanMonitor, register_export
from streams.worker.topology import register_agents


def broker_credentials(settings: Settings) -> Any:
    """faust's credentials object for the configured security protocol (None for PLAINTEXT)."""
    protocol = settings.broker_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    password = settings.broker_sasl_password
    return faust.SASLCredentials(
        username=settings.broker_sasl_username,
        password=password.get_secret_value() if password else None,
        mechanism=settings.broker_sasl_mechanism,
        ssl_context=ssl_context(settings) if protocol == "SASL_SSL" else None,
    )


def create_app(
    settings: Settings, metrics: Metrics | None = None, engine_path: EnginePath = NOT_CHECKED
) -> Runtime:
    """Build a worker app; the rules and code-mapping files are read (and validated) here, at start-up."""
    faust_fixes.apply()
    inloop.apply()
    offset_gaps.apply()
    stale_store.apply()
    standby_handover.apply()
    rules = load_rules(settings.rules_file)
    mapping = load_code_mapping(settings.code_mapping_file)
    metrics = metrics or Metrics()
    metrics.set_build_info(__version__, rules.rules_version)
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=broker_credentials(settings),
        store=settings.store,
        datadir=str(settings.data_dir),
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        topic_partitions=settings.partitions,
        topic_allow_declare=True,
        producer_acks=-1,
        broker_commit_interval=settings.commit_interval_s,
        # A few milliseconds of linger turn thousands of one-record produce requests into a few batches.
        producer_linger=0.002,
        producer_max_batch_size=262144,
        producer_max_request_size=settings.max_message_bytes,
        consumer_auto_offset_reset="earliest",
        # aiokafka's default is 1 MiB a partition a fetch. The consumer runs on the worker's loop
        # (streams.worker.inloop), and the fetch filter passes over a whole fetch without a turn of it: at
        # 1 MiB (~13,000 records over 6 partitions, ~0.13 s) half the whole-feed bench runs stalled, idle a
        # third of the time; at 256 KiB none of six did (docs/BENCHMARKS.md, "faust's consumer on the
        # worker's loop").
        consumer_max_fetch_size=256 * 1024,
        # A crashed worker's partitions move to the others after this long (faust's default is 60 s).
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        # Failover with several workers: docs/OPERATIONS.md "Several workers" has the measured difference.
        table_standby_replicas=settings.standby_replicas,
        key_serializer="raw",
        value_serializer="raw",
        autodiscover=False,
        # faust's own sensor page would clash with ours; ours serves faust's metrics too.
        web_metrics_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        logging_config=logging_config(settings.log_level, settings.log_format),
        # Nothing per message: faust's figures are exported from a timer (streams/worker/sensor.py).
        monitor=LeanMonitor(),
        version=1,
    )
    fetch_wait.apply(app.conf.id, settings.fetch_max_wait_ms)
    prefilter.apply(app, settings, mapping, metrics)

    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, partitions=settings.partitions)

    patients = app.Table(
        PATIENT_TABLE,
        key_type=bytes,
        value_type=bytes,
        default=None,
        partitions=settings.partitions,
        # Timers write outside any stream event; the partitioner keeps those writes co-partitioned with
        # the patient-events topic (both use Kafka's default murmur2 partitioner on the patient id).
        use_partitioner=True,
        help="per-patient electrolyte state (alerts.state) behind a delivery header",
    )
    runtime = Runtime(
        settings=settings,
        rules=rules,
        mapping=mapping,
        metrics=metrics,
        app=app,
        inputs={kind: topic(name) for kind, name in settings.input_topics.items()},
        patient_events=topic(settings.topic_patient_events),
        alerts=topic(settings.topic_alerts),
        deadletter=topic(settings.topic_deadletter),
        patients=patients,
        engine_path=engine_path,
    )
    register_agents(runtime)
    register_pages(runtime)
    register_export(runtime)
    register_cds_pages(runtime)
    return runtime
