// The test vectors of docs/protocol.md, against this library's codec. The document is
// the test data, as for the Rust implementation: every `### vector:` is one frame's bytes
// under a caption that names its fields (section 10). A frame a client sends must encode,
// from the caption's fields, to exactly those bytes; a frame a hub sends must decode to
// exactly the caption's fields. The status example must parse, the bridge example must
// read as one message with its origin, and section 3's replacement examples must decode
// as the document says.
//
// Compiled with the library's sources (it reaches its internal codec):
//   mcs -out:Vectors.exe tests/Vectors.cs src/Pipehub/*.cs && mono Vectors.exe docs/protocol.md
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;

namespace Pipehub.Tests
{
    static class Vectors
    {
        static int passed, failed;

        static void Check(string what, bool ok, string detail = "")
        {
            if (ok) { passed++; return; }
            failed++;
            Console.WriteLine("FAILED: " + what + (detail.Length > 0 ? ": " + detail : ""));
        }

        static int Main(string[] args)
        {
            var path = args.Length > 0 ? args[0] : "docs/protocol.md";
            var doc = File.ReadAllText(path);
            var vectors = Entries(doc, "### vector: ");
            Check("the document has vectors", vectors.Count > 20, vectors.Count + " found");
            var types = new HashSet<byte>();
            int encoded = 0, decoded = 0;
            foreach (var v in vectors)
            {
                types.Add(v.Bytes[4]);
                string frameName;
                var fields = ParseCaption(v.Caption, out frameName);
                Check(v.Name + ": caption names its type", FrameType.Name(v.Bytes[4]) == frameName, frameName);
                if (IsClientFrame(frameName))
                {
                    var bytes = Encode(frameName, new Dictionary<string, object>(fields));
                    Check(v.Name + ": encodes to the vector", bytes.SequenceEqual(v.Bytes), Hex(bytes) + " vs " + Hex(v.Bytes));
                    encoded++;
                }
                if (IsHubFrame(frameName))
                {
                    var frame = DecodeByteByByte(v.Name, v.Bytes);
                    if (frame != null)
                    {
                        var got = frame.Fields();
                        Check(v.Name + ": decodes to the caption's fields", SameFields(got, fields), Show(got) + " vs " + Show(fields));
                    }
                    decoded++;
                }
            }
            Check("every frame type has a vector", types.Count == 14, types.Count + " types");
            Check("client frames encoded", encoded >= 9, encoded.ToString());
            Check("hub frames decoded", decoded >= 17, decoded.ToString());
            StatusExample(doc);
            BridgeExample(doc);
            Replacement(doc);
            Console.WriteLine("vectors: " + passed + " passed, " + failed + " failed");
            return failed == 0 ? 0 : 1;
        }

        sealed class Entry
        {
            public string Name, Caption;
            public byte[] Bytes;
        }

        static List<Entry> Entries(string doc, string heading)
        {
            var entries = new List<Entry>();
            var lines = doc.Replace("\r\n", "\n").Split('\n');
            for (int i = 0; i < lines.Length; i++)
            {
                if (!lines[i].StartsWith(heading, StringComparison.Ordinal)) continue;
                var e = new Entry { Name = lines[i].Substring(heading.Length).Trim(), Caption = "" };
                i++;
                while (lines[i].Trim() != "```hex")
                {
                    if (e.Caption.Length == 0 && lines[i].Trim().Length > 0) e.Caption = lines[i].Trim();
                    i++;
                }
                var digits = new StringBuilder();
                for (i++; lines[i].Trim() != "```"; i++)
                    foreach (var c in lines[i]) if (!char.IsWhiteSpace(c)) digits.Append(c);
                e.Bytes = FromHex(digits.ToString());
                entries.Add(e);
            }
            return entries;
        }

        static byte[] FromHex(string digits)
        {
            var bytes = new byte[digits.Length / 2];
            for (int i = 0; i < bytes.Length; i++)
                bytes[i] = byte.Parse(digits.Substring(2 * i, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            return bytes;
        }

        static string Hex(byte[] b) { return BitConverter.ToString(b).Replace('-', ' ').ToLowerInvariant(); }

        /// <summary>`NAME field=value ...`: integers in decimal or 0x hex (as ulong), text in
        /// double quotes (with \n, \" and \\ escapes) or single quotes, bytes in brackets (as
        /// byte[]); a `(...)` after a value is a comment, and `(N bytes)` must be its length.</summary>
        static Dictionary<string, object> ParseCaption(string caption, out string name)
        {
            var text = caption.Trim('`');
            int space = text.IndexOf(' ');
            name = space < 0 ? text : text.Substring(0, space);
            var rest = space < 0 ? "" : text.Substring(space + 1);
            var fields = new Dictionary<string, object>();
            int pos = 0;
            var key = new Regex(@"\G([a-z_]+)=");
            var number = new Regex(@"\G(0x[0-9a-fA-F]+|\d+)");
            var comment = new Regex(@"\G \(([^)]*)\)");
            while (pos < rest.Length)
            {
                if (rest[pos] == ' ') { pos++; continue; }
                var k = key.Match(rest, pos);
                if (!k.Success) throw new FormatException(caption + ": expected field=value at " + rest.Substring(pos));
                pos += k.Length;
                object value;
                if (rest[pos] == '"')
                {
                    var s = new StringBuilder();
                    for (pos++; rest[pos] != '"'; pos++)
                    {
                        if (rest[pos] == '\\')
                        {
                            pos++;
                            s.Append(rest[pos] == 'n' ? '\n' : rest[pos] == 'r' ? '\r' : rest[pos] == 't' ? '\t' : rest[pos]);
                        }
                        else s.Append(rest[pos]);
                    }
                    pos++;
                    value = Encoding.UTF8.GetBytes(s.ToString());
                }
                else if (rest[pos] == '\'')
                {
                    int end = rest.IndexOf('\'', pos + 1);
                    value = Encoding.UTF8.GetBytes(rest.Substring(pos + 1, end - pos - 1));
                    pos = end + 1;
                }
                else if (rest[pos] == '[')
                {
                    int end = rest.IndexOf(']', pos);
                    value = FromHex(rest.Substring(pos + 1, end - pos - 1).Replace(" ", ""));
                    pos = end + 1;
                }
                else
                {
                    var n = number.Match(rest, pos);
                    if (!n.Success) throw new FormatException(caption + ": " + k.Groups[1].Value + " is not a number");
                    value = n.Value.StartsWith("0x", StringComparison.Ordinal)
                        ? ulong.Parse(n.Value.Substring(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)
                        : ulong.Parse(n.Value, CultureInfo.InvariantCulture);
                    pos += n.Length;
                }
                var c = comment.Match(rest, pos);
                if (c.Success)
                {
                    pos += c.Length;
                    var size = Regex.Match(c.Groups[1].Value, @"^(\d+) bytes?$");
                    if (size.Success)
                        Check(caption + ": " + k.Groups[1].Value + " has its stated size", value is byte[] b && b.Length == int.Parse(size.Groups[1].Value, CultureInfo.InvariantCulture));
                }
                fields[k.Groups[1].Value] = value;
            }
            return fields;
        }

        static bool IsClientFrame(string name)
        {
            return name == "HELLO" || name == "SEND" || name == "PING" || name == "PONG" || name == "STATUS_REQUEST";
        }

        static bool IsHubFrame(string name)
        {
            return !(name == "HELLO" || name == "SEND" || name == "STATUS_REQUEST");
        }

        static ulong Take(Dictionary<string, object> f, string key)
        {
            var v = (ulong)f[key];
            f.Remove(key);
            return v;
        }

        static byte[] Encode(string name, Dictionary<string, object> f)
        {
            byte[] bytes;
            switch (name)
            {
                case "HELLO":
                    Check("HELLO version", Take(f, "version") == Codec.Version);
                    var flags = Take(f, "flags");
                    var instance = Take(f, "resume_instance");
                    var after = Take(f, "resume_after");
                    HubPosition? resume = (flags & Codec.FlagResume) != 0 ? new HubPosition(instance, after) : (HubPosition?)null;
                    uint? last = f.ContainsKey("last") ? (uint?)Take(f, "last") : null;
                    Check("HELLO last flag", last.HasValue == ((flags & Codec.FlagLast) != 0));
                    var role = (byte)Take(f, "role");
                    var nameText = Encoding.UTF8.GetString((byte[])f["name"]);
                    f.Remove("name");
                    bytes = Codec.Hello(role, nameText, resume, last);
                    break;
                case "SEND":
                    bytes = Codec.Send((byte[])f["body"]);
                    f.Remove("body");
                    break;
                case "PING": bytes = Codec.Ping(Take(f, "nonce")); break;
                case "PONG": bytes = Codec.Pong(Take(f, "nonce")); break;
                default: bytes = Codec.StatusRequest(); break;
            }
            Check(name + ": every caption field used", f.Count == 0, string.Join(",", f.Keys));
            return bytes;
        }

        /// <summary>Feeds the vector one byte at a time: no frame before the last byte.</summary>
        static Frame DecodeByteByByte(string name, byte[] bytes)
        {
            var pipe = new TrickleStream(bytes);
            var reader = new FrameReader(pipe);
            var frame = reader.NextAsync().Result;
            Check(name + ": decoded only at its last byte", pipe.Position == bytes.Length);
            Check(name + ": nothing after it", reader.NextAsync().Result == null);
            return frame;
        }

        static bool SameFields(Dictionary<string, object> a, Dictionary<string, object> b)
        {
            if (a.Count != b.Count) return false;
            foreach (var kv in a)
            {
                object other;
                if (!b.TryGetValue(kv.Key, out other)) return false;
                if (kv.Value is byte[] x) { if (!(other is byte[] y) || !x.SequenceEqual(y)) return false; }
                else if (!kv.Value.Equals(other)) return false;
            }
            return true;
        }

        static string Show(Dictionary<string, object> f)
        {
            return string.Join(" ", f.Select(kv => kv.Key + "=" + (kv.Value is byte[] b ? "[" + Hex(b) + "]" : kv.Value.ToString())));
        }

        static string Block(string doc, string fence)
        {
            int start = doc.IndexOf(fence + "\n", StringComparison.Ordinal) + fence.Length + 1;
            int end = doc.IndexOf("\n```", start, StringComparison.Ordinal);
            return doc.Substring(start, end - start);
        }

        static void StatusExample(string doc)
        {
            var status = new HubStatus(Block(doc, "```json status-example"));
            Check("status example: requested_by", status.RequestedBy == 7);
            Check("status example: instance", status.Instance == "0123456789abcdef");
            Check("status example: broadcasts", status.Broadcasts == 12);
            Check("status example: clients", string.Join(",", status.Clients.Select(c => c.Id + ":" + c.Name + ":" + c.Role)) == "1:alice:listener,7:status:listener");
            Check("status example: a rate", status.Get("stats.broadcasts_per_s") is double d && d == 0.5);
            Check("status example: the bridge", (string)status.Get("bridge.state") == "connected");
        }

        static void BridgeExample(string doc)
        {
            var bytes = FromHex(Regex.Replace(Block(doc, "```hex bridge-example"), @"\s", ""));
            Check("bridge example: its caption gives its size", doc.Contains("publishes these " + bytes.Length + " bytes"));
            var session = new Session(Codec.RoleListener, "", null, null);
            session.Welcomed(new Frame { Type = FrameType.Welcome, Version = 1, ClientId = 3, HubInstance = 0x5555, CurrentSeq = 41, MaxFrame = Codec.DefaultMaxFrame, QueueFrames = 64 }, "test");
            var reader = new FrameReader(new MemoryStream(bytes));
            var events = new List<HubEvent>();
            Frame frame;
            while ((frame = reader.NextAsync().Result) != null)
            {
                if (frame.Type == FrameType.Broadcast) session.Broadcast(frame, events);
                else session.Other(frame);
            }
            var m = events.Count == 1 ? events[0] as Message : null;
            Check("bridge example: one message", m != null);
            if (m == null) return;
            Check("bridge example: the message", m.Seq == 42 && m.Sender == 0 && m.Text == "hello");
            Check("bridge example: its origin", m.Origin != null && m.Origin.HubInstance == 0x0123456789abcdefUL && m.Origin.Seq == 42 && m.Origin.Sender == 0 && m.Origin.HubName == "hub-a");
        }

        static void Replacement(string doc)
        {
            var cases = new[]
            {
                new { Bytes = new byte[] { 0xed, 0xa0, 0x80 }, Text = "\ufffd\ufffd\ufffd", Phrase = "`ed a0 80` becomes three U+FFFD" },
                new { Bytes = new byte[] { 0xe2, 0x82, 0x41 }, Text = "\ufffdA", Phrase = "`e2 82 41` becomes U+FFFD then `A`" },
            };
            foreach (var c in cases)
            {
                Check("section 3 says: " + c.Phrase, doc.Contains(c.Phrase));
                var payload = new byte[] { 0, 1 }.Concat(c.Bytes).ToArray();
                var frame = Codec.Decode(FrameType.Error, payload, 0, payload.Length);
                Check("replacement of " + Hex(c.Bytes), frame.Text == c.Text, string.Join(" ", frame.Text.Select(ch => ((int)ch).ToString("x4"))));
            }
        }

        /// <summary>A stream that gives one byte per read.</summary>
        sealed class TrickleStream : MemoryStream
        {
            public TrickleStream(byte[] bytes) : base(bytes) { }

            public override int Read(byte[] buffer, int offset, int count)
            {
                return base.Read(buffer, offset, Math.Min(count, 1));
            }

            public override System.Threading.Tasks.Task<int> ReadAsync(byte[] buffer, int offset, int count, System.Threading.CancellationToken cancel)
            {
                return System.Threading.Tasks.Task.FromResult(Read(buffer, offset, count));
            }
        }
    }
}
