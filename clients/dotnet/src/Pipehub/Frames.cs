// The bytes of the pipehub protocol (docs/protocol.md, sections 3 and 4): frame types,
// codes, encoding the frames a client sends and decoding those a hub sends. No I/O and no
// policy: HubClient and Session decide what the frames mean.
using System;
using System.Collections.Generic;
using System.Text;

namespace Pipehub
{
    /// <summary>The frame type bytes of protocol section 3.</summary>
    internal static class FrameType
    {
        public const byte Hello = 0x01;
        public const byte Send = 0x02;
        public const byte Ping = 0x03;
        public const byte StatusRequest = 0x05;
        public const byte Welcome = 0x81;
        public const byte Refused = 0x82;
        public const byte Broadcast = 0x83;
        public const byte Pong = 0x84;
        public const byte Lagged = 0x85;
        public const byte Bye = 0x86;
        public const byte Error = 0x87;
        public const byte Direct = 0x88;
        public const byte Status = 0x89;
        public const byte Origin = 0x8a;

        public static string Name(byte type)
        {
            switch (type)
            {
                case Hello: return "HELLO";
                case Send: return "SEND";
                case Ping: return "PING";
                case StatusRequest: return "STATUS_REQUEST";
                case Welcome: return "WELCOME";
                case Refused: return "REFUSED";
                case Broadcast: return "BROADCAST";
                case Pong: return "PONG";
                case Lagged: return "LAGGED";
                case Bye: return "BYE";
                case Error: return "ERROR";
                case Direct: return "DIRECT";
                case Status: return "STATUS";
                case Origin: return "ORIGIN";
                default: return "0x" + type.ToString("x2");
            }
        }
    }

    /// <summary>Bytes from the hub that are not a valid frame.</summary>
    internal sealed class FrameException : Exception
    {
        public FrameException(string message) : base(message) { }
    }

    /// <summary>One decoded frame of those a hub sends; which fields are set depends on
    /// <see cref="Type"/>. The field names are those of the tables of protocol section 4.</summary>
    internal sealed class Frame
    {
        public byte Type;
        public ushort Version;
        public ulong ClientId, HubInstance, CurrentSeq;
        public uint MaxFrame, QueueFrames;
        public ushort Code;
        public byte Reason;
        public ulong Seq, Sender, TimestampUs, Nonce, Missed, NextSeq;
        /// <summary>A STATUS frame's flags; bit 0 is "more".</summary>
        public byte Flags;
        public bool More { get { return (Flags & 1) != 0; } }
        /// <summary>A BROADCAST's or DIRECT's body, a STATUS part.</summary>
        public byte[] Body;
        /// <summary>A REFUSED, BYE or ERROR text, an ORIGIN hub name.</summary>
        public string Text;

        /// <summary>The fields by their names in protocol section 4, as the test vectors'
        /// captions give them: numbers as ulong, text and bodies as bytes.</summary>
        public Dictionary<string, object> Fields()
        {
            var f = new Dictionary<string, object>();
            switch (Type)
            {
                case FrameType.Welcome:
                    f["version"] = (ulong)Version; f["client_id"] = ClientId; f["hub_instance"] = HubInstance;
                    f["current_seq"] = CurrentSeq; f["max_frame"] = (ulong)MaxFrame; f["queue_frames"] = (ulong)QueueFrames;
                    break;
                case FrameType.Refused:
                case FrameType.Error:
                    f["code"] = (ulong)Code; f["text"] = Encoding.UTF8.GetBytes(Text);
                    break;
                case FrameType.Broadcast:
                    f["seq"] = Seq; f["sender"] = Sender; f["timestamp_us"] = TimestampUs; f["body"] = Body;
                    break;
                case FrameType.Ping:
                case FrameType.Pong:
                    f["nonce"] = Nonce;
                    break;
                case FrameType.Lagged:
                    f["missed"] = Missed; f["next_seq"] = NextSeq;
                    break;
                case FrameType.Bye:
                    f["reason"] = (ulong)Reason; f["text"] = Encoding.UTF8.GetBytes(Text);
                    break;
                case FrameType.Direct:
                    f["sender"] = Sender; f["timestamp_us"] = TimestampUs; f["body"] = Body;
                    break;
                case FrameType.Status:
                    f["flags"] = (ulong)Flags; f["part"] = Body;
                    break;
                case FrameType.Origin:
                    f["hub_instance"] = HubInstance; f["seq"] = Seq; f["sender"] = Sender;
                    f["hub_name"] = Encoding.UTF8.GetBytes(Text);
                    break;
            }
            return f;
        }
    }

    /// <summary>Encoding and decoding frames.</summary>
    internal static class Codec
    {
        public const ushort Version = 1;
        public const uint DefaultMaxFrame = 1048576;
        public const int MaxNameLength = 64;
        /// <summary>How much longer a BROADCAST is than the SEND it carries (section 4.2).</summary>
        public const int BroadcastOverhead = 25;
        public const byte RoleListener = 1, RolePublisher = 2;
        public const byte FlagResume = 0x01, FlagLast = 0x02;

        static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, true);

        public static void PutU16(byte[] b, int at, ushort v) { b[at] = (byte)(v >> 8); b[at + 1] = (byte)v; }
        public static void PutU32(byte[] b, int at, uint v)
        {
            b[at] = (byte)(v >> 24); b[at + 1] = (byte)(v >> 16); b[at + 2] = (byte)(v >> 8); b[at + 3] = (byte)v;
        }
        public static void PutU64(byte[] b, int at, ulong v) { PutU32(b, at, (uint)(v >> 32)); PutU32(b, at + 4, (uint)v); }
        public static ushort U16(byte[] b, int at) { return (ushort)(b[at] << 8 | b[at + 1]); }
        public static uint U32(byte[] b, int at) { return (uint)b[at] << 24 | (uint)b[at + 1] << 16 | (uint)b[at + 2] << 8 | b[at + 3]; }
        public static ulong U64(byte[] b, int at) { return (ulong)U32(b, at) << 32 | U32(b, at + 4); }

        static byte[] Frame(byte type, int payload)
        {
            var frame = new byte[5 + payload];
            PutU32(frame, 0, (uint)(1 + payload));
            frame[4] = type;
            return frame;
        }

        /// <summary>HELLO (4.1). <paramref name="resume"/> continues after a position;
        /// <paramref name="last"/> starts with up to that many recent broadcasts.</summary>
        public static byte[] Hello(byte role, string name, HubPosition? resume, uint? last)
        {
            var raw = Encoding.UTF8.GetBytes(name ?? "");
            if (raw.Length > MaxNameLength)
                throw new ArgumentException("the name \"" + name + "\" is " + raw.Length + " bytes of UTF-8; the hub takes at most " + MaxNameLength + ": shorten it", "name");
            int payload = 25 + raw.Length + (last.HasValue ? 4 : 0);
            var f = Frame(FrameType.Hello, payload);
            f[5] = (byte)'P'; f[6] = (byte)'H'; f[7] = (byte)'U'; f[8] = (byte)'B';
            PutU16(f, 9, Version);
            f[11] = role;
            f[12] = (byte)((resume.HasValue ? FlagResume : 0) | (last.HasValue ? FlagLast : 0));
            if (resume.HasValue)
            {
                PutU64(f, 13, resume.Value.Instance);
                PutU64(f, 21, resume.Value.Seq);
            }
            f[29] = (byte)raw.Length;
            Buffer.BlockCopy(raw, 0, f, 30, raw.Length);
            if (last.HasValue) PutU32(f, 30 + raw.Length, last.Value);
            return f;
        }

        /// <summary>Appends SEND (4.2) to <paramref name="into"/>.</summary>
        public static void AppendSend(List<byte[]> into, byte[] body)
        {
            var header = new byte[5];
            PutU32(header, 0, (uint)(1 + body.Length));
            header[4] = FrameType.Send;
            into.Add(header);
            into.Add(body);
        }

        public static byte[] Send(byte[] body)
        {
            var f = Frame(FrameType.Send, body.Length);
            Buffer.BlockCopy(body, 0, f, 5, body.Length);
            return f;
        }

        public static byte[] Ping(ulong nonce) { var f = Frame(FrameType.Ping, 8); PutU64(f, 5, nonce); return f; }
        public static byte[] Pong(ulong nonce) { var f = Frame(FrameType.Pong, 8); PutU64(f, 5, nonce); return f; }
        public static byte[] StatusRequest() { return Frame(FrameType.StatusRequest, 0); }

        static void Exact(byte type, int count, int size)
        {
            if (count != size)
                throw new FrameException("a " + FrameType.Name(type) + " frame has a payload of " + count + " bytes instead of " + size);
        }

        static void AtLeast(byte type, int count, int size)
        {
            if (count < size)
                throw new FrameException("a " + FrameType.Name(type) + " frame has a payload of " + count + " bytes, shorter than its " + size + " bytes of fixed fields");
        }

        static byte[] Slice(byte[] b, int at, int count)
        {
            var s = new byte[count];
            Buffer.BlockCopy(b, at, s, 0, count);
            return s;
        }

        /// <summary>Decodes a frame a hub sends from its type and payload (the bytes after
        /// the type: <paramref name="count"/> bytes at <paramref name="at"/>). Returns null
        /// for a hub frame of a type this client does not know, which it skips (5.2).</summary>
        public static Frame Decode(byte type, byte[] b, int at, int count)
        {
            var f = new Frame { Type = type };
            switch (type)
            {
                case FrameType.Broadcast:
                    AtLeast(type, count, 24);
                    f.Seq = U64(b, at); f.Sender = U64(b, at + 8); f.TimestampUs = U64(b, at + 16);
                    f.Body = Slice(b, at + 24, count - 24);
                    return f;
                case FrameType.Ping:
                case FrameType.Pong:
                    Exact(type, count, 8);
                    f.Nonce = U64(b, at);
                    return f;
                case FrameType.Lagged:
                    Exact(type, count, 16);
                    f.Missed = U64(b, at); f.NextSeq = U64(b, at + 8);
                    return f;
                case FrameType.Welcome:
                    Exact(type, count, 34);
                    f.Version = U16(b, at); f.ClientId = U64(b, at + 2); f.HubInstance = U64(b, at + 10);
                    f.CurrentSeq = U64(b, at + 18); f.MaxFrame = U32(b, at + 26); f.QueueFrames = U32(b, at + 30);
                    return f;
                case FrameType.Refused:
                case FrameType.Error:
                    AtLeast(type, count, 2);
                    f.Code = U16(b, at);
                    f.Text = Utf8.Lenient(b, at + 2, count - 2);
                    return f;
                case FrameType.Bye:
                    AtLeast(type, count, 1);
                    f.Reason = b[at];
                    f.Text = Utf8.Lenient(b, at + 1, count - 1);
                    return f;
                case FrameType.Direct:
                    AtLeast(type, count, 16);
                    f.Sender = U64(b, at); f.TimestampUs = U64(b, at + 8);
                    f.Body = Slice(b, at + 16, count - 16);
                    return f;
                case FrameType.Status:
                    AtLeast(type, count, 1);
                    f.Flags = b[at];
                    f.Body = Slice(b, at + 1, count - 1);
                    return f;
                case FrameType.Origin:
                    AtLeast(type, count, 24);
                    f.HubInstance = U64(b, at); f.Seq = U64(b, at + 8); f.Sender = U64(b, at + 16);
                    if (count - 24 > MaxNameLength)
                        throw new FrameException("an ORIGIN frame's hub name is " + (count - 24) + " bytes, over " + MaxNameLength);
                    try { f.Text = StrictUtf8.GetString(b, at + 24, count - 24); }
                    catch (ArgumentException) { throw new FrameException("an ORIGIN frame's hub name is not valid UTF-8"); }
                    return f;
                default:
                    if (type >= 0x80) return null;
                    throw new FrameException("the hub sent a frame of type " + FrameType.Name(type) + ", which only clients send");
            }
        }
    }

    /// <summary>Lenient UTF-8 decoding as protocol section 3 defines it: one U+FFFD for
    /// each maximal subpart of an ill-formed sequence. (Mono's Encoding.UTF8 replaces
    /// differently, so this does not rely on the runtime's decoder.)</summary>
    internal static class Utf8
    {
        static readonly UTF8Encoding Strict = new UTF8Encoding(false, true);

        public static string Lenient(byte[] b, int at, int count)
        {
            try { return Strict.GetString(b, at, count); }
            catch (ArgumentException) { return Replace(b, at, count); }
        }

        static string Replace(byte[] b, int at, int count)
        {
            var s = new StringBuilder(count);
            int i = at, end = at + count;
            while (i < end)
            {
                int lead = b[i];
                if (lead < 0x80) { s.Append((char)lead); i++; continue; }
                int need; int cp; int lo = 0x80, hi = 0xbf;
                if (lead >= 0xc2 && lead <= 0xdf) { need = 1; cp = lead & 0x1f; }
                else if (lead >= 0xe0 && lead <= 0xef)
                {
                    need = 2; cp = lead & 0x0f;
                    if (lead == 0xe0) lo = 0xa0; else if (lead == 0xed) hi = 0x9f;
                }
                else if (lead >= 0xf0 && lead <= 0xf4)
                {
                    need = 3; cp = lead & 0x07;
                    if (lead == 0xf0) lo = 0x90; else if (lead == 0xf4) hi = 0x8f;
                }
                else { s.Append('\ufffd'); i++; continue; }
                int j = 1;
                bool whole = true;
                for (; j <= need; j++)
                {
                    if (i + j >= end) { whole = false; break; }
                    int c = b[i + j];
                    // Only the second byte has a narrowed range; the others are 80..BF.
                    int min = j == 1 ? lo : 0x80, max = j == 1 ? hi : 0xbf;
                    if (c < min || c > max) { whole = false; break; }
                    cp = cp << 6 | (c & 0x3f);
                }
                if (!whole) { s.Append('\ufffd'); i += j; continue; }
                if (cp < 0x10000) s.Append((char)cp);
                else s.Append(char.ConvertFromUtf32(cp));
                i += need + 1;
            }
            return s.ToString();
        }
    }
}
