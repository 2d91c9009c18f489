"""The ``newswatch`` command line.

Expected failures (a bad config, an unreachable store, an unknown name) print one clear line and
exit with the code the README gives, never a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from newswatch import __version__
from newswatch.alerts.delivery import ChannelSender, DeliveryWorker, sample_alert
from newswatch.alerts.query import explain, legacy_reading, parse_query
from newswatch.alerts.render import Renderer
from newswatch.config import Config, CrawlSettings, LoadedConfig, config_schema, find_config_path
from newswatch.errors import (
    ConfigError,
    DeliveryError,
    NewswatchError,
    QuerySyntaxError,
    UsageError,
)
from newswatch.logs import setup_logging
from newswatch.redact import Redactor, channel_address, protect_logs, redact_url
from newswatch.scheduler import alerts_view, leftovers
from newswatch.scheduler.crawling import crawl_once
from newswatch.scheduler.loading import load_checked_config, reading_changes
from newswatch.scheduler.resend import resend_dead_letters, resend_ids
from newswatch.scheduler.status import render_status
from newswatch.sentry import init_sentry
from newswatch.spiders.context import OutletResult
from newswatch.store import Store, open_store
from newswatch.store.consumers import outbox_consumer
from newswatch.store.workers import WorkerRegistry

__all__ = ["main"]

logger = logging.getLogger("newswatch")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.log_format, args.verbose)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        for problem in exc.problems:  # one line each: a file with four mistakes shows four
            print(f"newswatch: config refused: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"newswatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NewswatchError as exc:
        print(f"newswatch: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `newswatch status | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newswatch", description="Keyword alerts for news outlets and their mirrors."
    )
    parser.add_argument("--version", action="version", version=f"newswatch {__version__}")
    _add_common(parser, suppress=False)
    # The same options after the command: `newswatch check -c x.yaml` and `newswatch -c x.yaml
    # check` both work. SUPPRESS keeps a subcommand from resetting what was given before it.
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, suppress=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    schema = commands.add_parser(
        "schema", parents=[common], help="print the JSON Schema of the config file"
    )
    schema.set_defaults(handler=_schema)

    check = commands.add_parser("check", parents=[common], help="validate the config and show it")
    check.add_argument(
        "--explain", metavar="WATCH", help="print how WATCH's query is read, as a tree in words"
    )
    check.set_defaults(handler=_check)

    run = commands.add_parser("run", parents=[common], help="crawl and deliver alerts")
    run.add_argument("--once", action="store_true", help="crawl every outlet once, deliver, exit")
    run.set_defaults(handler=_run)

    crawl = commands.add_parser("crawl", parents=[common], help="crawl one outlet once")
    crawl.add_argument("outlet")
    crawl.add_argument(
        "--dry-run", action="store_true", help="print the alerts it would send; record nothing"
    )
    crawl.set_defaults(handler=_crawl)

    try_ = commands.add_parser(
        "try",
        parents=[common],
        help="judge pages against a query as a poll would, before trusting a watch to it",
        description="Fetch each URL (with the config's crawl settings; an outlet's page is "
        "named with its article identity) or read each FILE, extract the article as a poll "
        "does and match QUERY against it: matched or not, the snippets with the term marked "
        "in [brackets], and where a term that did not count sat on the page. Without a "
        "config file the default crawl settings are used.",
    )
    try_.add_argument(
        "query", metavar="QUERY", help="a watch query (README: Watch queries), quoted"
    )
    try_.add_argument("targets", nargs="+", metavar="URL|FILE")
    try_.set_defaults(handler=_try)

    status = commands.add_parser(
        "status", parents=[common], help="outlets, outbox and recent alerts"
    )
    status.set_defaults(handler=_status)

    test_alert = commands.add_parser(
        "test-alert", parents=[common], help="send a sample alert through a channel"
    )
    test_alert.add_argument("channel")
    test_alert.set_defaults(handler=_test_alert)

    alerts = commands.add_parser(
        "alerts", parents=[common], help="recent alerts and dead letters, with delivery states"
    )
    alerts.add_argument("--watch", help="only this watch's alerts")
    alerts.add_argument("--channel", help="only alerts for this channel")
    alerts.add_argument("--since", help="a duration back from now (6h, 2d) or an ISO time")
    alerts.add_argument("--dead", action="store_true", help="only dead letters")
    alerts.add_argument("--limit", type=int, default=20, help="at most N alerts (default 20)")
    alerts.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    alerts.set_defaults(handler=_alerts)

    resend = commands.add_parser(
        "resend",
        parents=[common],
        help="put alerts back into the outbox, with the same alert id",
        description="Put alerts back into the outbox with the same alert id (the same webhook "
        "X-Newswatch-Id and email Message-ID), attempts reset; the next delivery run sends "
        "them. An alert that is a dead letter is resent to the channels it died on (its dead "
        "letter is removed); an alert that is not (delivered, or pending) is resent to every "
        "channel its watch notifies now (a notice: the notices channels). An unknown id is an error (exit 1, nothing resent); "
        "an alert whose content has expired cannot be resent (exit 1).",
    )
    resend.add_argument("ids", nargs="*", metavar="ID", help="alert ids (see `newswatch alerts`)")
    resend.add_argument(
        "--dead-letters",
        nargs="?",
        const="",
        metavar="CHANNEL",
        help="every dead letter of CHANNEL, or of every channel in the config",
    )
    resend.set_defaults(handler=_resend)

    discard = commands.add_parser(
        "discard",
        parents=[common],
        help="drop what the store keeps for a channel or watch removed from the config",
    )
    discard.add_argument("channel", nargs="?", help="a channel no longer in the config")
    discard.add_argument("--digest", metavar="WATCH", help="the open digest of a removed watch")
    discard.set_defaults(handler=_discard)
    return parser


def _add_common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "-c",
        "--config",
        default=default(None),
        help="config file (default: $NEWSWATCH_CONFIG, else ./newswatch.yaml)",
    )
    parser.add_argument("--log-format", choices=("text", "json"), default=default("text"))
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="debug logging: library messages, crawl statistics, scheduler runs",
    )


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(config_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK


def _load(args: argparse.Namespace, *, warn: bool = True) -> LoadedConfig:
    loaded = load_checked_config(find_config_path(args.config), warn=warn)
    init_sentry(loaded.config)
    protect_logs(loaded.config)  # from here on no log line shows a secret of this config
    return loaded


def _store(loaded: LoadedConfig) -> Store:
    config = loaded.config
    return open_store(config.store, config.retention)


def _check(args: argparse.Namespace) -> int:
    loaded = _load(args, warn=False)
    config = loaded.config
    if args.explain is not None:
        return _explain(config, args.explain)
    print(f"{loaded.file}: valid")
    print(f"store: {redact_url(config.store) if config.store else 'embedded (./newswatch-state/)'}")
    print(f"outlets ({len(config.outlets)}):")
    for name, outlet in config.outlets.items():
        schedule = f"cron {outlet.cron}" if outlet.cron else f"every {outlet.interval}"
        print(f"  {name}: {', '.join(outlet.domains)} ({schedule})")
    print(f"watches ({len(config.watches)}):")
    for name, watch in config.watches.items():
        where = ", ".join(watch.outlets) if watch.outlets is not None else "all outlets"
        print(f"  {name}: {watch.query}  [{where}] -> {', '.join(watch.notify)} ({watch.digest})")
    print(f"channels ({len(config.channels)}):")
    for name, channel in config.channels.items():
        print(f"  {name}: {channel.type} {channel_address(channel) or ''}".rstrip())
    if config.notices:
        print(
            f"notices: {', '.join(config.notices)} (outlet dark after {config.crawl.dark_after} polls)"
        )
    for line in reading_changes(config):
        print(f"warning: {line}")
    _print_leftovers(loaded)
    return EXIT_OK


def _explain(config: Config, name: str) -> int:
    watch = config.watches.get(name)
    if watch is None:
        raise UsageError(f"unknown watch {name!r} (watches: {', '.join(config.watches) or 'none'})")
    query = parse_query(watch.query)
    print(f"watch {name}: {watch.query}")
    print(f"read as: {query}")
    for line in explain(query):
        print(line)
    for line in reading_changes(config.model_copy(update={"watches": {name: watch}})):
        print(f"warning: {line}")
    return EXIT_OK


def _print_leftovers(loaded: LoadedConfig) -> None:
    """What the store keeps for channels and watches this config removed; a store that cannot be
    read is said, and does not make the config invalid."""
    try:
        store = leftovers.open_existing_store(loaded.config)
    except NewswatchError as exc:
        print(f"store: not read ({Redactor.for_config(loaded.config)(str(exc))})")
        return
    if store is None:
        return
    try:
        lines = leftovers.leftover_lines(loaded.config, store)
    finally:
        store.close()
    if lines:
        print("kept for what the config no longer names:")
        for line in lines:
            print(f"  {line}")


def _run(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if args.once:
        return _crawl_and_deliver(loaded, list(loaded.config.outlets))
    from newswatch.scheduler.service import Service

    return Service(find_config_path(args.config), loaded, outbox_consumer()).run()


def _crawl(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if args.outlet not in loaded.config.outlets:
        known = ", ".join(loaded.config.outlets)
        print(f"newswatch: unknown outlet {args.outlet!r} (outlets: {known})", file=sys.stderr)
        return EXIT_USAGE
    if args.dry_run:
        store = _store(loaded)
        try:
            results = crawl_once(
                loaded.config, store, [args.outlet], dry_run=True, output=sys.stdout
            )
        finally:
            store.close()
        return _crawl_exit_code(results)
    return _crawl_and_deliver(loaded, [args.outlet])


def _crawl_and_deliver(loaded: LoadedConfig, outlets: list[str]) -> int:
    config = loaded.config
    store = _store(loaded)
    try:
        results = crawl_once(config, store, outlets)
        failed = [result for result in results.values() if result.store_failures]
        if failed:
            # Deliveries could not be recorded: sending now risks sending twice. The alerts
            # stored before the failure stay queued for the next run.
            print(
                f"newswatch: the store failed during the run, nothing delivered: "
                f"{failed[0].store_error} ({sum(r.store_failures for r in failed)} failed "
                "writes; what was not saved is tried again on the next run)",
                file=sys.stderr,
            )
            return EXIT_FAILED
        sender = ChannelSender(config, Renderer.for_config(config))
        report = DeliveryWorker(store, sender, outbox_consumer()).run_once(ignore_schedule=True)
        logger.info(
            "delivery: %d sent, %d failed (kept for retry), %d dead-lettered, %d not tried in time",
            report.sent,
            report.failed,
            report.dead,
            report.left,
            extra={
                "sent": report.sent,
                "failed": report.failed,
                "dead": report.dead,
                "left": report.left,
            },
        )
    finally:
        store.close()
    return _crawl_exit_code(results)


def _crawl_exit_code(results: dict[str, OutletResult]) -> int:
    """1 when an outlet was unreachable on every domain or the store failed (each already logged
    as an error)."""
    failed = any(not result.reachable or result.store_failures for result in results.values())
    return EXIT_FAILED if failed else EXIT_OK


def _try(args: argparse.Namespace) -> int:
    try:
        query = parse_query(args.query)
    except QuerySyntaxError as exc:
        raise UsageError(f"query {args.query!r}: {exc}") from None
    path = find_config_path(args.config)
    crawl, outlets = CrawlSettings(), {}
    if args.config or path.exists():  # the default file is optional here, a named one is not
        config = _load(args, warn=False).config
        crawl, outlets = config.crawl, config.outlets
    from newswatch.scheduler.trying import try_query  # the extraction libraries load only for `try`

    print(f"query: {query}")
    old = legacy_reading(args.query)
    if old is not None:
        print(f"warning: before OR bound tighter than juxtaposition this read as {old}")
    try_query(query, args.targets, crawl, outlets, sys.stdout)
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    loaded = _load(args)
    store = _store(loaded)
    try:
        workers = None
        if loaded.config.store:
            workers = WorkerRegistry.for_url(loaded.config.store).workers()
        print(render_status(loaded.config, store, workers=workers))
    finally:
        store.close()
    return EXIT_OK


def _test_alert(args: argparse.Namespace) -> int:
    loaded = _load(args)
    config = loaded.config
    if args.channel not in config.channels:
        known = ", ".join(config.channels) or "none"
        print(f"newswatch: unknown channel {args.channel!r} (channels: {known})", file=sys.stderr)
        return EXIT_USAGE
    sender = ChannelSender(config, Renderer.for_config(config))
    try:
        sender.send_now(args.channel, sample_alert())
    except DeliveryError as exc:
        print(f"newswatch: test alert through {args.channel!r} failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"test alert delivered through {args.channel!r}", file=sys.stderr)
    return EXIT_OK


def _alerts(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise UsageError(f"--limit must be 0 or more, not {args.limit}")
    loaded = _load(args)
    since = alerts_view.parse_since(args.since) if args.since else None
    store = _store(loaded)
    try:
        rows = alerts_view.collect_alerts(
            loaded.config,
            store,
            watch=args.watch,
            channel=args.channel,
            since=since,
            dead_only=args.dead,
            limit=args.limit,
        )
    finally:
        store.close()
    if args.json:
        text = alerts_view.render_json(rows)
    else:
        text = alerts_view.render_text(rows, loaded.config)
    print(Redactor.for_config(loaded.config)(text))  # errors can name a webhook's secret path
    return EXIT_OK


def _resend(args: argparse.Namespace) -> int:
    if bool(args.ids) == (args.dead_letters is not None):
        raise UsageError("resend takes alert ids or --dead-letters [CHANNEL], one of the two")
    loaded = _load(args)
    store = _store(loaded)
    try:
        if args.ids:
            report = resend_ids(loaded.config, store, args.ids)
        else:
            report = resend_dead_letters(loaded.config, store, args.dead_letters or None)
    finally:
        store.close()
    for line in report.lines():
        print(line)
    redact = Redactor.for_config(loaded.config)
    for problem in report.problems:
        print(redact(f"newswatch: {problem}"), file=sys.stderr)
    return EXIT_FAILED if report.problems else EXIT_OK


def _discard(args: argparse.Namespace) -> int:
    if bool(args.channel) == bool(args.digest):
        raise UsageError("discard takes a CHANNEL or --digest WATCH, one of the two")
    loaded = _load(args)
    store = _store(loaded)
    try:
        if args.channel:
            pending, dead = leftovers.discard_channel(loaded.config, store, args.channel)
            print(f"channel {args.channel}: dropped {pending} pending, {dead} dead letters")
        else:
            dropped = leftovers.discard_digest(loaded.config, store, args.digest)
            print(f"watch {args.digest}: dropped its open digest of {dropped} alerts")
    finally:
        store.close()
    return EXIT_OK
