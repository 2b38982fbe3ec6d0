"""The Python client as the end-to-end tests drive it (tests/tests/python_client.rs): a
small program that does one thing with the package and prints what it got, one line at a
time, so that the test, not this program, decides whether it was right. It has the same
commands and output as the C# client's ``clients/dotnet/tests/Scenarios.cs``:

``listen ENDPOINT [--listeners N] [--count C] [--until BODY] [--reconnect] [--out DIR] [--asyncio]``
    N listeners in this process (blocking clients on threads, or asyncio clients on one
    event loop); prints ``ready ID...`` once all are connected, then each event as ``K
    message SEQ SENDER BODY``, ``K lagged MISSED NEXT_SEQ``, ``K direct SENDER BODY`` or ``K
    restarted`` (to ``DIR/K.txt`` with ``--out``), and ``K done RECEIVED END`` where END is
    ``count``, ``until``, ``bye REASON TEXT`` or ``error TYPE MESSAGE``.
``publish ENDPOINT [--each K]``
    sends the lines of stdin (the first K one ``send`` each, the rest in one ``send_many``);
    prints ``welcome ID``, then ``confirmed N`` and ``status BROADCASTS REQUESTED_BY``.
``connect ENDPOINT [--role listener|publisher] [--asyncio]``
    prints ``welcome ID``, or ``error TYPE MESSAGE`` and exits 4 (refused), 3 (no hub), 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from typing import Callable, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import pipehub  # noqa: E402
from pipehub import aio  # noqa: E402

_out = threading.Lock()


def say(line: str) -> None:
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def describe(event: object) -> Optional[str]:
    if isinstance(event, pipehub.Message):
        return f"message {event.seq} {event.sender} {event.text}"
    if isinstance(event, pipehub.Lagged):
        return f"lagged {event.missed} {event.next_seq}"
    if isinstance(event, pipehub.DirectMessage):
        return f"direct {event.sender} {event.text}"
    if isinstance(event, pipehub.HubRestarted):
        return "restarted"
    return None


class Recorder:
    """Where listener K's events go, and when it stops."""

    def __init__(self, k: int, args: argparse.Namespace) -> None:
        self.k = k
        self.args = args
        self.received = 0
        self.sink = open(os.path.join(args.out, f"{k}.txt"), "w", encoding="utf-8") if args.out else None

    def event(self, event: object) -> Optional[str]:
        """Records an event; returns the END if the listener is done."""
        line = describe(event)
        if line is not None:
            if self.sink:
                self.sink.write(line + "\n")
            else:
                say(f"{self.k} {line}")
        if isinstance(event, pipehub.Message):
            self.received += 1
            if self.args.until is not None and event.text == self.args.until:
                return "until"
            if self.args.count and self.received == self.args.count:
                return "count"
        return None

    def done(self, end: str) -> None:
        if self.sink:
            self.sink.close()
        say(f"{self.k} done {self.received} {end}")


def listen_blocking(args: argparse.Namespace) -> int:
    clients = [
        pipehub.Client(args.endpoint, name=f"listener {k}", reconnect=args.reconnect)
        for k in range(args.listeners)
    ]
    say("ready " + " ".join(str(c.client_id) for c in clients))

    def run(k: int, client: pipehub.Client) -> None:
        recorder = Recorder(k, args)
        end = None
        try:
            for event in client:
                end = recorder.event(event)
                if end:
                    break
            else:
                end = f"bye {client.bye.reason} {client.bye.text}"
        except pipehub.PipehubError as err:
            end = f"error {type(err).__name__} {err}"
        client.close()
        recorder.done(end)

    threads = [threading.Thread(target=run, args=(k, c)) for k, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


async def listen_asyncio(args: argparse.Namespace) -> int:
    clients = [
        await aio.connect(args.endpoint, name=f"listener {k}", reconnect=args.reconnect)
        for k in range(args.listeners)
    ]
    say("ready " + " ".join(str(c.client_id) for c in clients))

    async def run(k: int, client: aio.AsyncClient) -> None:
        recorder = Recorder(k, args)
        end = None
        try:
            async for event in client:
                end = recorder.event(event)
                if end:
                    break
            else:
                end = f"bye {client.bye.reason} {client.bye.text}"
        except pipehub.PipehubError as err:
            end = f"error {type(err).__name__} {err}"
        await client.close()
        recorder.done(end)

    await asyncio.gather(*(run(k, c) for k, c in enumerate(clients)))
    return 0


def publish(args: argparse.Namespace) -> int:
    lines = [line[:-1] if line.endswith("\n") else line for line in sys.stdin]
    with pipehub.Client(args.endpoint, role="publisher", name="publisher") as hub:
        say(f"welcome {hub.client_id}")
        for line in lines[: args.each]:
            hub.send(line)
        sent = args.each + hub.send_many(lines[args.each :])
        say(f"confirmed {sent}")
        report = hub.status()
        say(f"status {report['stats']['broadcasts']} {report['requested_by']}")
    return 0


async def connect_asyncio(args: argparse.Namespace) -> None:
    async with await aio.connect(args.endpoint, role=args.role) as hub:
        say(f"welcome {hub.client_id}")


def connect(args: argparse.Namespace) -> int:
    if args.asyncio:
        asyncio.run(connect_asyncio(args))
    else:
        with pipehub.Client(args.endpoint, role=args.role) as hub:
            say(f"welcome {hub.client_id}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["listen", "publish", "connect"])
    parser.add_argument("endpoint")
    parser.add_argument("--listeners", type=int, default=1)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--until")
    parser.add_argument("--reconnect", action="store_true")
    parser.add_argument("--out")
    parser.add_argument("--asyncio", action="store_true")
    parser.add_argument("--each", type=int, default=0)
    parser.add_argument("--role", default="listener")
    args = parser.parse_args()
    commands: dict = {
        "listen": (lambda a: asyncio.run(listen_asyncio(a))) if args.asyncio else listen_blocking,
        "publish": publish,
        "connect": connect,
    }
    run: Callable[[argparse.Namespace], int] = commands[args.command]
    try:
        return run(args) or 0
    except pipehub.PipehubError as err:
        say(f"error {type(err).__name__} {err}")
        return 4 if isinstance(err, pipehub.RefusedError) else 3 if isinstance(err, pipehub.NoHubError) else 1


if __name__ == "__main__":
    sys.exit(main())
