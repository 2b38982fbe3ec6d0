"""``python -m pipehub listen|send|status``: the Python client from the command line.

The same commands, output and exit codes as ``pipehub-client``'s: 0 done, 1 runtime
error, 2 bad command line, 3 no hub at the endpoint, 4 refused by the hub, 5 the hub said
``BYE`` before ``--count`` was reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import List, Optional, TextIO

from . import aio
from .client import Client
from .errors import NoHubError, PipehubError, RefusedError
from .endpoint import EndpointError
from .events import DirectMessage, HubRestarted, Lagged, Message
from .frames import SENDER_OPERATOR, SENDER_REMOTE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipehub", description="Talk to a pipehub hub.")
    parser.add_argument(
        "--endpoint",
        help="socket path, pipe:NAME, or on Windows a pipe name [default: $PIPEHUB_ENDPOINT, "
        "else the platform default]",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listen = commands.add_parser("listen", help="print every broadcast")
    listen.add_argument("--name", default="", help="the name the operator sees")
    listen.add_argument("--count", type=int, help="exit 0 after this many messages")
    listen.add_argument("--last", type=int, help="start with the last N messages the hub holds")
    listen.add_argument("--reconnect", action="store_true", help="survive lost connections and hub restarts")
    listen.add_argument(
        "--format",
        choices=["pretty", "plain", "json"],
        help="pretty: time, #seq, sender, text; plain: the text alone; json: one object per "
        "line, as pipehub-client's [default: pretty on a terminal, else plain]",
    )
    send = commands.add_parser("send", help="publish messages; exits 0 once the hub took them all")
    send.add_argument("--name", default="", help="the name the operator sees")
    send.add_argument("message", nargs="*", help="the messages [default: one per line of stdin]")
    status = commands.add_parser("status", help="print the hub's status report")
    status.add_argument("--json", action="store_true", help="the report as JSON")
    return parser


def _sender(sender: int) -> str:
    if sender == SENDER_OPERATOR:
        return "operator"
    if sender == SENDER_REMOTE:
        return "remote"
    return f"client {sender}"


def _json_body(body: bytes) -> dict:
    try:
        return {"body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"body_hex": body.hex()}


def _print_event(event: object, fmt: str, out: TextIO) -> None:
    if isinstance(event, Message):
        if fmt == "json":
            line: dict = {"seq": event.seq, "sender": event.sender}
            if event.origin is not None:
                line["origin"] = {
                    "hub": event.origin.hub_name,
                    "instance": f"{event.origin.hub_instance:016x}",
                    "seq": event.origin.seq,
                    "sender": event.origin.sender,
                }
            line["timestamp_us"] = event.timestamp_us
            line.update(_json_body(event.body))
            out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        elif fmt == "plain":
            out.write(event.text + "\n")
        else:
            when = event.time.astimezone().strftime("%H:%M:%S.%f")[:-3]
            out.write(f"{when} #{event.seq} <{_sender(event.sender)}> {event.text}\n")
    elif isinstance(event, DirectMessage):
        if fmt == "json":
            line = {"direct": True, "sender": event.sender, "timestamp_us": event.timestamp_us}
            line.update(_json_body(event.body))
            out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        elif fmt == "plain":
            out.write(event.text + "\n")
        else:
            out.write(f"direct from {_sender(event.sender)}: {event.text}\n")
    elif isinstance(event, Lagged):
        sys.stderr.write(f"pipehub: missed {event.missed} messages; continuing at #{event.next_seq}\n")
        if fmt == "json":
            out.write(json.dumps({"event": "lagged", "missed": event.missed, "next_seq": event.next_seq}) + "\n")
    elif isinstance(event, HubRestarted):
        sys.stderr.write(
            f"pipehub: the hub was restarted; what it broadcast after #{event.after} may have "
            "been lost, and how many cannot be known\n"
        )
        if fmt == "json":
            out.write(
                json.dumps(
                    {
                        "event": "new_instance",
                        "instance": f"{event.instance:016x}",
                        "previous": f"{event.previous_instance:016x}",
                    }
                )
                + "\n"
            )


def _listen(args: argparse.Namespace) -> int:
    fmt = args.format or ("pretty" if sys.stdout.isatty() else "plain")
    received = 0
    with Client(args.endpoint, name=args.name, last=args.last, reconnect=args.reconnect) as hub:
        for event in hub:
            _print_event(event, fmt, sys.stdout)
            if isinstance(event, Message):
                received += 1
                if args.count is not None and received >= args.count:
                    sys.stdout.flush()
                    return 0
            if not hub._ready:
                sys.stdout.flush()
        sys.stdout.flush()
        sys.stderr.write(f"pipehub: the hub closed the session: {hub.bye}\n")
        return 5 if args.count is not None else 0


async def _send(args: argparse.Namespace) -> int:
    async with await aio.connect(args.endpoint, role="publisher", name=args.name) as hub:
        if args.message:
            await hub.send_many(args.message)
            return 0
        # Lines are read on a thread, so the client answers the hub while stdin is idle.
        loop = asyncio.get_running_loop()
        batch: List[str] = []
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if line:
                batch.append(line[:-1] if line.endswith("\n") else line)
            if batch and (not line or len(batch) >= 1024):
                await hub.send_many(batch)
                batch = []
            if not line:
                return 0


def _status(args: argparse.Namespace) -> int:
    with Client(args.endpoint, name="status") as hub:
        report = hub.status()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    h, s = report["hub"], report["stats"]
    print(f"hub         pipehub {h['version']}, instance {h['instance']}, pid {h['pid']}")
    print(
        f"clients     {s['clients']}: {s['listeners']} listeners, {s['publishers']} publishers, "
        f"{s['text_listeners']} text listeners"
    )
    print(f"broadcast   {s['broadcasts']} messages; lagged {s['lagged_clients']} clients, {s['missed']} missed")
    print()
    print(f"{'ID':>4}  {'NAME':<16} {'ROLE':<9} {'QUEUED':>7} {'MISSED':>7}")
    for c in report["clients"]:
        mark = " *" if c["id"] == report.get("requested_by") else ""
        print(f"{c['id']:>4}  {(c['name'] or '-') + mark:<16} {c['role']:<9} {c['queued']:>7} {c['missed']:>7}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "listen":
            return _listen(args)
        if args.command == "send":
            return asyncio.run(_send(args))
        return _status(args)
    except EndpointError as err:
        sys.stderr.write(f"pipehub: error: {err}\n")
        return 2
    except NoHubError as err:
        sys.stderr.write(f"pipehub: error: {err}\n")
        return 3
    except RefusedError as err:
        sys.stderr.write(f"pipehub: error: {err}\n")
        return 4
    except PipehubError as err:
        sys.stderr.write(f"pipehub: error: {err}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
