"""The ``herald`` command: serve, worker, check-config, dev, simulate, sim, oncall, schedules, fire, people."""
from __future__ import annotations

import argparse
import gc
import logging
import os
import sys

from pydantic import ValidationError

from integrations.config.model import ConfigError, load_config
from service.settings import Settings, env_problems


def _logging(settings: Settings) -> None:
    from service.telemetry import logs

    logs.configure_logging(settings.log_format, settings.log_level, secrets=logs.secrets_from_settings(settings))


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.api.server import uvicorn_options

    settings = Settings()
    _logging(settings)
    try:
        app = create_app(settings)
    except ConfigError as exc:
        return _config_error(exc)
    # What start-up built (routes, schemas, SDK clients, parsed calendars) lives as long as
    # the process: move it out of the collector's way, so a collection under load walks
    # only what requests allocate (bench/: it was the webhook's p99).
    gc.collect()
    gc.freeze()
    # Slow and greedy clients: a head deadline, connection limits, refusals counted and
    # summarised (service/api/server.py); slow bodies are BodyLimit's (service/api/guards.py).
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", proxy_headers=False, log_config=None,
                **uvicorn_options(settings))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from service.worker.process import run_worker

    settings = Settings()
    _logging(settings)
    try:
        run_worker(settings, burst=args.burst)
    except ConfigError as exc:
        return _config_error(exc)
    if not args.burst:
        _exit_now(0)
    return 0


def _exit_now(code: int) -> None:
    """Leave at once once a long-running command has stopped in order: RQ has said goodbye,
    the scheduler has been joined, every other thread is a daemon with nothing to finish.
    Left to itself, the interpreter then spends most of a second freeing the heap, which a
    rolling restart waits for (bench/worker_stop.py)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _config_error(exc: ConfigError) -> int:
    """The file, the field and what is wrong, on one line: no traceback."""
    print(f"herald: configuration error: {exc}", file=sys.stderr)
    return 1


def cmd_check_config(args: argparse.Namespace) -> int:
    path = args.config or Settings().config
    try:
        config = load_config(path)
    except ConfigError as exc:
        return _config_error(exc)
    from datetime import datetime, timezone

    from integrations.calendars import CalendarBook

    book = CalendarBook(config)
    book.refresh(datetime.now(timezone.utc), force=True)
    failed = [s for s in book.status.values() if s.error]
    for status in book.status.values():
        state = f"error: {status.error}" if status.error else f"{status.shifts} shifts"
        print(f"schedule {status.schedule}: {state}")
    for line in generic_previews(config):
        print(line)
    print(f"{path}: {len(config.people)} people, {len(config.schedules)} schedules, "
          f"{len(config.policies)} policies" + (" — calendars failed" if failed else " — OK"))
    if args.routes:
        print(route_tree(config.route))
    return 1 if failed else 0


def generic_previews(config) -> list[str]:
    """Each generic integration's mapping evaluated against its ``sample``, as the route
    would read that body (the loader already refused a sample the mapping cannot read)."""
    import json

    from routing.generic_json import event_of, preview
    from routing.integration import policies_of_event

    lines = []
    for integration in config.integrations.values():
        if integration.kind != "generic":
            continue
        if integration.sample is None:
            lines.append(f"integration {integration.name} (generic): no sample to evaluate its mapping against")
            continue
        event = event_of(integration, integration.sample)
        shown = {**preview(event), "policies": list(policies_of_event(integration, event, config.route))}
        lines.append(f"integration {integration.name} (generic): its mapping over its sample gives")
        lines += ["  " + line for line in json.dumps(shown, indent=2, ensure_ascii=False).splitlines()]
    return lines


def route_tree(route) -> str:
    """The route tree like ``amtool config routes``: one line a route, indented."""
    lines = []
    for depth, node in route.walk():
        matchers = ", ".join(str(m) for m in node.matchers) or ("(default)" if depth == 0 else "")
        extra = "  continue" if node.continue_ else ""
        lines.append(f"{'  ' * depth}{'└── ' if depth else ''}{{{matchers}}}  policy: {node.policy}{extra}")
    return "\n".join(lines)


def cmd_simulate(args: argparse.Namespace) -> int:
    import json
    from datetime import datetime, timezone

    import redis
    from pydantic import ValidationError

    from routing.alertmanager import WebhookPayload
    from service.cli.common import check_herald_data
    from service.engine.runtime import Herald
    from service.api.dry_run import render, simulate

    settings = Settings()
    try:
        payload = WebhookPayload.model_validate_json(open(args.payload, "rb").read())
        at = datetime.fromisoformat(args.at) if args.at else datetime.now(timezone.utc)
    except (OSError, ValidationError, ValueError) as exc:
        print(f"herald simulate: {exc}", file=sys.stderr)
        return 2
    if at.tzinfo is None:
        print("herald simulate: --at needs a time zone, e.g. 2026-11-27T03:00:00Z", file=sys.stderr)
        return 2
    try:
        herald = Herald.from_settings(settings, notifiers={})
    except ConfigError as exc:
        print(f"herald: configuration error: {exc}", file=sys.stderr)
        return 1
    try:
        check_herald_data(herald.status, settings.redis_url)
    except redis.RedisError:
        pass  # the plan's notes say that Redis was unreachable
    result = simulate(herald, payload, at.astimezone(timezone.utc))
    print(json.dumps(result, default=str, indent=2) if args.json else render(result))
    return 0


#: What ``herald dev`` and ``herald sim`` say where the dev tooling is not installed.
NO_DEV_TOOLING = ("herald {command}: the dev tooling (service/dev) is not installed here: it ships with a "
                  "source checkout (make run) and the image's dev target (docker build --target dev), "
                  "never with the production image")


def _dev_tooling(command: str):
    """``service.dev`` (the simulator, ``herald dev``), or a clear exit where it is absent."""
    try:
        import service.dev.run
        import service.dev.simulator.app
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("service.dev"):
            raise
        raise SystemExit(NO_DEV_TOOLING.format(command=command)) from None
    return service.dev


def cmd_dev(args: argparse.Namespace) -> int:
    from pathlib import Path

    dev = _dev_tooling("dev")
    return dev.run.run_dev(port=args.port, state_dir=Path(args.state_dir))


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (1-65535)")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="herald", description="Alert routing and paging for Alertmanager.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(func=cmd_serve)
    worker = sub.add_parser("worker", help="run an RQ worker and the clock loop that hands it the due index's work")
    worker.add_argument("--burst", action="store_true", help="do everything due now, then exit")
    worker.set_defaults(func=cmd_worker)
    check = sub.add_parser("check-config", help="validate the configuration and calendars, start nothing")
    check.add_argument("config", nargs="?", help="path (default: $HERALD_CONFIG)")
    check.add_argument("--routes", action="store_true", help="print the route tree")
    check.set_defaults(func=cmd_check_config)
    dev = sub.add_parser("dev", help="run Redis, the API and a worker for local use (make run)")
    dev.add_argument("--port", type=_port, default=8080, help="the API's port on 127.0.0.1 (default 8080)")
    dev.add_argument("--state-dir", default=".herald", help="where Redis keeps its data (default .herald)")
    dev.set_defaults(func=cmd_dev)
    sim = sub.add_parser("simulate", help="dry run: the paging plan for an Alertmanager payload, nothing sent")
    sim.add_argument("payload", help="a JSON file as Alertmanager posts it")
    sim.add_argument("--at", help="ISO time to plan from (default: now)")
    sim.add_argument("--json", action="store_true", help="print JSON instead of text")
    sim.set_defaults(func=cmd_simulate)
    sub.add_parser("sim", help="run the Twilio/SendGrid provider simulator (herald sim --help)")
    from service.cli.fire import add_command as add_fire_command
    from service.cli.schedules import add_commands as add_schedule_commands  # oncall, schedules lint

    add_schedule_commands(sub)
    add_fire_command(sub)
    from service.cli.people import add_commands as add_people_commands  # people list|export|import

    add_people_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sim"]:  # the simulator parses its own options
        return _dev_tooling("sim").simulator.app.main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        for line in env_problems(exc):  # an environment variable is wrong: say which, no traceback
            print(f"herald: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
