"""The test vectors of ``docs/protocol.md``, against this package.

The document is the test data, as for the Rust implementation: every ``### vector:`` is
one frame's bytes under a caption that names its fields (section 10). A frame a client
sends must encode, from the caption's fields, to exactly those bytes; a frame a hub sends
must decode to exactly the caption's fields. The status example must parse, the bridge
example must read as one message with its origin, and section 3's replacement examples
must decode as the document says.

Run from ``clients/python``: ``python3 -m unittest discover -s tests``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import unittest
from typing import Dict, List, Tuple, Union

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

from pipehub import frames  # noqa: E402
from pipehub.events import Message  # noqa: E402
from pipehub.session import Session  # noqa: E402

DOC = os.environ.get("PIPEHUB_PROTOCOL_DOC") or os.path.join(HERE, "..", "..", "..", "docs", "protocol.md")

Value = Union[int, bytes]


def read_doc() -> str:
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def entries(doc: str, heading: str) -> List[Tuple[str, str, bytes]]:
    """Every ``### vector: NAME`` (or ``### invalid:``) entry: name, caption, bytes."""
    out = []
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith(heading):
            i += 1
            continue
        name = lines[i][len(heading) :].strip()
        i += 1
        caption = ""
        while lines[i].strip() != "```hex":
            if not caption and lines[i].strip():
                caption = lines[i].strip()
            i += 1
        i += 1
        digits = ""
        while lines[i].strip() != "```":
            digits += "".join(lines[i].split())
            i += 1
        out.append((name, caption, bytes.fromhex(digits)))
    return out


def parse_caption(caption: str) -> Tuple[str, Dict[str, Value]]:
    """``NAME field=value ...`` (section 10): integers in decimal or ``0x`` hex, text in
    double quotes (with ``\\n``, ``\\"`` and ``\\\\`` escapes) or single quotes, bytes in
    brackets; a ``(...)`` after a value is a comment, and ``(N bytes)`` must be its
    length."""
    text = caption.strip("`")
    name, _, rest = text.partition(" ")
    fields: Dict[str, Value] = {}
    pos = 0
    while pos < len(rest):
        if rest[pos] == " ":
            pos += 1
            continue
        m = re.compile(r"([a-z_]+)=").match(rest, pos)
        assert m, f"{caption}: expected field=value at {rest[pos:]!r}"
        key, pos = m.group(1), m.end()
        value: Value
        if rest[pos] == '"':
            raw = []
            pos += 1
            while rest[pos] != '"':
                if rest[pos] == "\\":
                    pos += 1
                    raw.append({"n": "\n", "r": "\r", "t": "\t"}.get(rest[pos], rest[pos]))
                else:
                    raw.append(rest[pos])
                pos += 1
            pos += 1
            value = "".join(raw).encode("utf-8")
        elif rest[pos] == "'":
            end = rest.index("'", pos + 1)
            value = rest[pos + 1 : end].encode("utf-8")
            pos = end + 1
        elif rest[pos] == "[":
            end = rest.index("]", pos)
            value = bytes.fromhex(rest[pos + 1 : end])
            pos = end + 1
        else:
            m = re.compile(r"0x[0-9a-fA-F]+|\d+").match(rest, pos)
            assert m, f"{caption}: {key} is not a number"
            value = int(m.group(0), 0)
            pos = m.end()
        c = re.compile(r" \(([^)]*)\)").match(rest, pos)
        if c:
            pos = c.end()
            size = re.fullmatch(r"(\d+) bytes?", c.group(1))
            if size:
                assert isinstance(value, bytes) and len(value) == int(size.group(1)), (
                    f"{caption}: {key} is not {size.group(1)} bytes"
                )
        fields[key] = value
    return name, fields


def as_caption_value(value: object) -> Value:
    if isinstance(value, str):
        return value.encode("utf-8")
    assert isinstance(value, (int, bytes)), value
    return value


def encode_client_frame(name: str, f: Dict[str, Value]) -> bytes:
    if name == "HELLO":
        assert f.pop("version") == frames.VERSION
        flags = f.pop("flags")
        instance, after = f.pop("resume_instance"), f.pop("resume_after")
        resume = (instance, after) if flags & frames.FLAG_RESUME else None
        last = f.pop("last", None)
        assert (last is not None) == bool(flags & frames.FLAG_LAST)
        return frames.encode_hello(f.pop("role"), f.pop("name").decode("utf-8"), resume, last)
    if name == "SEND":
        return frames.encode_send(f.pop("body"))
    if name == "PING":
        return frames.encode_ping(f.pop("nonce"))
    if name == "PONG":
        return frames.encode_pong(f.pop("nonce"))
    if name == "STATUS_REQUEST":
        return frames.encode_status_request()
    raise AssertionError(f"{name} is not a frame a client sends")


CLIENT_FRAMES = {"HELLO", "SEND", "PING", "PONG", "STATUS_REQUEST"}
HUB_FRAMES = {"PING", "PONG"} | {n for t, n in frames.TYPE_NAMES.items() if t >= 0x80}


class Vectors(unittest.TestCase):
    def setUp(self) -> None:
        self.doc = read_doc()
        self.vectors = entries(self.doc, "### vector: ")

    def test_every_frame_type_has_a_vector(self) -> None:
        seen = {v[2][4] for v in self.vectors}
        self.assertEqual(seen, set(frames.TYPE_NAMES), "a vector for each frame type")

    def test_client_frames_encode_to_the_vectors(self) -> None:
        checked = 0
        for name, caption, data in self.vectors:
            frame_name, fields = parse_caption(caption)
            self.assertEqual(frames.TYPE_NAMES[data[4]], frame_name, name)
            if frame_name not in CLIENT_FRAMES:
                continue
            with self.subTest(vector=name):
                self.assertEqual(encode_client_frame(frame_name, fields).hex(" "), data.hex(" "))
                self.assertEqual(fields, {}, "every field of the caption was used")
                checked += 1
        self.assertGreaterEqual(checked, 9)

    def test_hub_frames_decode_to_the_vectors(self) -> None:
        checked = 0
        for name, caption, data in self.vectors:
            frame_name, fields = parse_caption(caption)
            if frame_name not in HUB_FRAMES:
                continue
            with self.subTest(vector=name):
                buffer = frames.FrameBuffer()
                for i in range(len(data)):  # byte by byte: nothing before the last
                    buffer.feed(data[i : i + 1])
                    got = buffer.frames()
                    self.assertEqual(len(got), 1 if i == len(data) - 1 else 0)
                frame = frames.decode(*got[0])
                decoded = {k: as_caption_value(v) for k, v in frame._asdict().items()}
                self.assertEqual(decoded, fields)
                checked += 1
        self.assertGreaterEqual(checked, 17)

    def test_the_status_example_parses(self) -> None:
        block = re.search(r"```json status-example\n(.*?)\n```", self.doc, re.S)
        assert block is not None
        report = json.loads(block.group(1))
        self.assertEqual(report["requested_by"], 7)
        self.assertEqual([c["name"] for c in report["clients"]], ["alice", "status"])
        self.assertEqual(report["hub"]["instance"], "0123456789abcdef")

    def test_the_bridge_example_is_one_message_with_its_origin(self) -> None:
        block = re.search(r"```hex bridge-example\n(.*?)\n```", self.doc, re.S)
        assert block is not None
        data = bytes.fromhex("".join(block.group(1).split()))
        self.assertIn(f"publishes these {len(data)} bytes", self.doc)
        session = Session(frames.ROLE_LISTENER)
        session.welcomed(frames.Welcome(1, 3, 0x5555, 41, frames.DEFAULT_MAX_FRAME, 64))
        buffer = frames.FrameBuffer()
        buffer.feed(data)
        events = [e for frame in buffer.frames() for e in session.handle(*frame)]
        self.assertEqual(len(events), 1)
        message = events[0]
        self.assertIsInstance(message, Message)
        self.assertEqual((message.seq, message.sender, message.body), (42, 0, b"hello"))
        self.assertEqual(message.origin, frames.Origin(0x0123456789ABCDEF, 42, 0, "hub-a"))

    def test_the_replacement_examples_decode_as_the_document_says(self) -> None:
        for raw, text, phrase in [
            (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd", "`ed a0 80` becomes three U+FFFD"),
            (b"\xe2\x82\x41", "\ufffdA", "`e2 82 41` becomes U+FFFD then `A`"),
        ]:
            self.assertIn(phrase, self.doc)
            self.assertEqual(frames.decode(frames.ERROR, b"\x00\x01" + raw), frames.Error(1, text))


if __name__ == "__main__":
    unittest.main()
