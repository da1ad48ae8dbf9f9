"""The `lytewatch` command: worker, topics, replay, feeds, services and benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from alerts.errors import AlertsError
from streams.errors import StreamsError
from streams.settings import Settings, SettingsError, load_settings

Envelope = dict[str, Any]

# Each command imports what it runs inside its function, not to dodge a cycle (there is none) but so that
# `lytewatch replay` or `topics` starts in a fraction of a second without loading faust and the worker.


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from streams.worker.process import run_worker

    run_worker(settings)
    return 0


def _cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    from streams.topics import wait_for_broker

    async def go() -> None:
        for spec, outcome in await wait_for_broker(settings, give_up_after=args.wait):
            config = ", ".join(f"{k}={v}" for k, v in spec.config.items())
            print(f"{spec.name:<28} {outcome:<24} {spec.purpose}" + (f" [{config}]" if config else ""))

    asyncio.run(go())
    return 0


def _cmd_hash_token(args: argparse.Namespace, settings: Settings) -> int:
    from streams.web.tokens import hash_token

    token = sys.stdin.readline().rstrip("\n")
    if not token.strip():
        print("lytewatch hash-token: give the token on standard input", file=sys.stderr)
        return 2
    print(hash_token(token))
    return 0


def _cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile
    from datetime import UTC, datetime

    from alerts.codes import load_code_mapping
    from alerts.rulesfile import load_rules
    from streams import gc_tuning
    from streams.progress import count_lines, progress_bar
    from streams.replay import Shard, StreamSink, open_lines, replay_shard
    from streams.replay_jobs import replay_jobs

    if args.jobs < 1:
        print("lytewatch replay: --jobs must be at least 1", file=sys.stderr)
        return 2
    if args.jobs > 1 and args.input == "-":
        print("lytewatch replay: --jobs N reads the file N times: give a file, not stdin", file=sys.stderr)
        return 2
    rules = load_rules(args.rules or settings.rules_file)
    mapping = load_code_mapping(settings.code_mapping_file)
    gc_tuning.tune()
    started_at = datetime.now(UTC)
    out = _open_out(args.output)
    deadletter = open(args.deadletter, "wb") if args.deadletter else None  # noqa: SIM115
    total = count_lines(args.input) if sys.stderr.isatty() else None
    try:
        with progress_bar("replay", total) as report:
            if args.jobs == 1:
                summary = replay_shard(
                    open_lines(args.input),
                    Shard(),
                    StreamSink(out, deadletter),
                    rules=rules,
                    mapping=mapping,
                    tz=settings.tz,
                    started_at=started_at,
                    progress=report,
                )
            else:
                with tempfile.TemporaryDirectory(prefix="lytewatch-replay-") as workdir:
                    summary = replay_jobs(
                        args.input,
                        args.jobs,
                        Path(workdir),
                        rules=rules,
                        mapping=mapping,
                        tz=settings.tz,
                        alerts_out=out,
                        deadletter_out=deadletter,
                        started_at=started_at,
                        on_progress=report,
                    )
    finally:
        out.flush()
        if out is not sys.stdout.buffer:
            out.close()
        if deadletter is not None:
            deadletter.close()
    if args.summary:
        print(f"rules_version: {rules.rules_version}", file=sys.stderr)
        print(summary.render(), file=sys.stderr)
    return 0


def _open_out(path: str | None) -> IO[bytes]:
    if path in (None, "-"):
        return sys.stdout.buffer
    return open(path, "wb")


def _emit(envelopes: Iterable[Envelope], args: argparse.Namespace, settings: Settings) -> int:
    """Write envelopes to --output (NDJSON) or produce them to the input topics with --produce."""
    from streams.feeds import write_ndjson

    if args.produce:
        from streams.feeds.produce import produce_envelopes, topics_from_settings
        from streams.kafka import client_options
        from streams.topics import wait_for_broker

        options = {k: v for k, v in client_options(settings).items() if k != "bootstrap_servers"}

        async def go() -> None:
            await wait_for_broker(settings, give_up_after=60)
            stats = await produce_envelopes(
                settings.bootstrap_servers,
                envelopes,
                topics_from_settings(settings),
                args.rate,
                time_scale=getattr(args, "speed", None),
                max_delay_s=getattr(args, "max_gap", None),
                producer_options=options,
            )
            print(
                f"produced {stats.total} messages in {stats.elapsed_s:.1f} s ({stats.rate:.0f}/s); "
                f"failed {stats.failed}; per topic: {dict(stats.acknowledged)}",
                file=sys.stderr,
            )

        asyncio.run(go())
        return 0
    out = _open_out(args.output)
    try:
        count = write_ndjson(envelopes, out)
    finally:
        out.flush()
        if out is not sys.stdout.buffer:
            out.close()
    print(f"wrote {count} envelopes", file=sys.stderr)
    return 0


def _cmd_mimic(args: argparse.Namespace, settings: Settings) -> int:
    from streams.feeds.mimic import MIMIC_ATTRIBUTION, iter_mimic

    print(MIMIC_ATTRIBUTION, file=sys.stderr)
    return _emit(iter_mimic(Path(args.data)), args, settings)


def _cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from streams.feeds.simulate import FaultMix, simulate

    faults = FaultMix(
        corrections=args.corrections,
        cancellations=args.cancellations,
        duplicates=args.duplicates,
        out_of_order=args.out_of_order,
        bad=args.bad,
    )
    envelopes = simulate(
        patients=args.patients,
        seed=args.seed,
        events=args.events,
        duration_s=args.duration,
        rate=args.rate or 1000.0,
        faults=faults,
    )
    return _emit(envelopes, args, settings)


def _serve(service: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a long-lived service until SIGINT or SIGTERM, letting it clean up on the way out."""

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await service()

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(main())


def _cmd_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    from streams.logs import configure_logging
    from streams.web.dashboard import run_dashboard

    settings.dashboard_auth_mode  # noqa: B018 - SettingsError (exit 2) before anything starts
    configure_logging(settings.log_level, settings.log_format)
    _serve(lambda: run_dashboard(settings))
    return 0


def _cmd_notifier(args: argparse.Namespace, settings: Settings) -> int:
    from alerts.notifier.routing import load_routes
    from streams.logs import configure_logging
    from streams.notifier.process import run_notifier

    configure_logging(settings.log_level, settings.log_format)
    routes = Path(args.routes) if args.routes else settings.notifier_routes_file
    if routes is None:
        print("lytewatch notifier: give --routes FILE or LYTEWATCH_NOTIFIER_ROUTES_FILE", file=sys.stderr)
        return 2
    load_routes(routes)  # a bad routing file fails here, naming the key, before anything connects
    start_from = "earliest" if args.from_beginning else settings.notifier_start_from
    _serve(lambda: run_notifier(settings, routes, start_from=start_from))
    return 0


def _cmd_mllp(args: argparse.Namespace, settings: Settings) -> int:
    from streams.edges.mllp import run_mllp
    from streams.logs import configure_logging

    if args.port is not None:
        # Through the settings model, so that a bad port fails like LYTEWATCH_MLLP_PORT would, by name.
        settings = load_settings({**os.environ, "LYTEWATCH_MLLP_PORT": str(args.port)})
    configure_logging(settings.log_level, settings.log_format)
    _serve(lambda: run_mllp(settings))
    return 0


def _cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from streams.bench.run import run_bench

    return run_bench(settings, quick=args.quick, json_path=args.json, only=args.phase)


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from streams.demo import run_demo

    return run_demo(settings, feed=args.feed, speed=args.speed)


def _feed_output(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--output", "-o", help="NDJSON replay file to write (default: stdout)")
    target.add_argument("--produce", action="store_true", help="produce to the input topics instead")
    parser.add_argument("--rate", type=float, default=None, help="target events/s when producing")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lytewatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, Callable[[argparse.Namespace, Settings], int]] = {}

    def add(
        name: str, handler: Callable[[argparse.Namespace, Settings], int], help_: str
    ) -> argparse.ArgumentParser:
        commands[name] = handler
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    add("worker", _cmd_worker, "run a stream worker (web: /metrics /healthz /readyz)")
    add("hash-token", _cmd_hash_token, "print sha256:<hex> of a token read from stdin, for _DASHBOARD_TOKENS")
    topics = add("topics", _cmd_topics, "create every topic lytewatch uses (idempotent)")
    topics.add_argument("action", choices=["create"])
    topics.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the broker")

    replay = add("replay", _cmd_replay, "run the engine over a replay file (no Kafka)")
    replay.add_argument("input", help="NDJSON replay file, or - for stdin")
    replay.add_argument("--output", "-o", help="alert events NDJSON (default: stdout)")
    replay.add_argument("--deadletter", help="write dead letters here (NDJSON)")
    replay.add_argument("--rules", type=Path, help="rules file (default: LYTEWATCH_RULES_FILE or built-in)")
    replay.add_argument("--summary", action="store_true", help="print counts to stderr")
    replay.add_argument(
        "--jobs", "-j", type=int, default=1, help="processes, patients sharded over them (same output)"
    )

    mimic = add("mimic", _cmd_mimic, "turn the MIMIC-IV demo tables into input events")
    mimic.add_argument("--data", default="../shared/data/mimic-iv-demo", help="MIMIC-IV demo directory")
    mimic.add_argument("--speed", type=float, default=None, help="hospital seconds per wall second")
    mimic.add_argument("--max-gap", type=float, default=2.0, help="longest pause (s) when --speed paces")
    _feed_output(mimic)

    sim = add("simulate", _cmd_simulate, "a deterministic synthetic hospital feed")
    sim.add_argument("--patients", type=int, default=1000)
    limit = sim.add_mutually_exclusive_group()
    limit.add_argument("--duration", type=float, help="seconds of feed at --rate")
    limit.add_argument("--events", type=int, help="number of events")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--corrections", type=float, default=0.02, help="share of results corrected later")
    sim.add_argument("--cancellations", type=float, default=0.01, help="share of results cancelled later")
    sim.add_argument("--duplicates", type=float, default=0.02, help="share of messages sent twice")
    sim.add_argument("--out-of-order", type=float, default=0.03, help="share of results delivered late")
    sim.add_argument("--bad", type=float, default=0.01, help="share of malformed messages")
    _feed_output(sim)

    add("dashboard", _cmd_dashboard, "serve the live dashboard and its API")
    notifier = add("notifier", _cmd_notifier, "deliver alerts to pager, chat and e-mail")
    notifier.add_argument("--routes", help="routing file (default: LYTEWATCH_NOTIFIER_ROUTES_FILE)")
    notifier.add_argument(
        "--from-beginning", action="store_true", help="a new consumer group starts at the oldest alert event"
    )

    mllp = add("mllp", _cmd_mllp, "receive HL7 v2 over MLLP onto the input topics, with HL7 ACKs")
    mllp.add_argument("--port", type=int, help="TCP port (default: LYTEWATCH_MLLP_PORT, 2575)")

    bench = add("bench", _cmd_bench, "benchmark throughput, latency, recovery and memory")
    bench.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes")
    bench.add_argument("--json", type=Path, help="write the figures here")
    bench.add_argument(
        "--phase",
        action="append",
        metavar="NAME",
        help="run only this phase (repeatable; default: all; names in docs/BENCHMARKS.md): for A/B runs",
    )

    demo = add("demo", _cmd_demo, "broker topics + worker + dashboard + a demo feed (what `make run` runs)")
    demo.add_argument(
        "--feed",
        choices=["demo", "mimic", "simulate"],
        default="demo",
        help="demo: MIMIC-IV alerting stays first, compressed, with a scripted alerting cohort (default); "
        "mimic: the MIMIC-IV demo in order at --speed; simulate: the synthetic hospital",
    )
    demo.add_argument(
        "--speed", type=float, default=86400.0, help="--feed mimic: hospital seconds per wall second"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        return int(args.handler(args, settings))
    except (SettingsError, AlertsError, StreamsError) as exc:
        # Start-up errors (bad settings, rules or mapping files) name the bad key; no traceback needed.
        print(f"lytewatch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
