// What a client knows across its connections, without doing any I/O: it builds each HELLO
// (the first, and on reconnecting one that resumes after the last broadcast read), reads
// the WELCOME, and turns the hub's frames into events. It follows the sequence numbers so
// that no loss goes unnoticed: a LAGGED is passed on with its exact count, a restarted hub
// is announced, and any other jump is a HubProtocolException.
using System;
using System.Collections.Generic;

namespace Pipehub
{
    internal sealed class Session
    {
        /// <summary>`last` of a resuming HELLO: should the hub be a new instance, start with
        /// every broadcast it still holds (protocol section 4.1).</summary>
        const uint ResumeLast = uint.MaxValue;
        /// <summary>Set in the nonces of keepalive PINGs, so their PONGs are not taken for
        /// confirmations (which count up from 1).</summary>
        public const ulong KeepaliveNonce = 1UL << 63;

        readonly byte role;
        readonly string name;
        readonly uint? last;
        /// <summary>The hub instance of the current (or last) connection.</summary>
        public ulong? Instance;
        /// <summary>The sequence number the next broadcast must have; null when unknown.</summary>
        ulong? expected;
        ulong startAfter;
        bool resume;
        bool newInstance;
        Frame origin;
        ulong nextNonce = 1;

        public Frame Welcome;
        public uint MaxFrame = Codec.DefaultMaxFrame;

        public Session(byte role, string name, uint? last, HubPosition? resumeAfter)
        {
            Codec.Hello(role, name, null, last); // checks the name now
            this.role = role;
            this.name = name ?? "";
            this.last = last;
            if (resumeAfter.HasValue)
            {
                Instance = resumeAfter.Value.Instance;
                expected = resumeAfter.Value.Seq + 1;
                startAfter = resumeAfter.Value.Seq;
                resume = true;
            }
        }

        public bool IsListener { get { return role == Codec.RoleListener; } }

        bool Resuming { get { return IsListener && resume && Instance.HasValue; } }

        ulong After { get { return expected.HasValue ? expected.Value - 1 : startAfter; } }

        /// <summary>The HELLO for the next connection.</summary>
        public byte[] Hello()
        {
            if (Resuming) return Codec.Hello(role, name, new HubPosition(Instance.Value, After), ResumeLast);
            return Codec.Hello(role, name, null, last);
        }

        /// <summary>Takes the answer to HELLO; returns the event the session starts with
        /// (a HubRestarted) or null. Throws for REFUSED, ERROR and anything else.</summary>
        public HubEvent Welcomed(Frame frame, string endpoint)
        {
            if (frame == null) throw new HubProtocolException("it answered HELLO with a frame of unknown type");
            if (frame.Type == FrameType.Refused) throw new HubRefusedException(frame.Code, frame.Text);
            if (frame.Type == FrameType.Error) throw new HubProtocolErrorException(frame.Code, frame.Text);
            if (frame.Type == FrameType.Bye)
            {
                var bye = new ByeReason(frame.Reason, frame.Text);
                throw new HubClosedException("the hub at " + endpoint + " closed the connection before WELCOME: " + bye, bye);
            }
            if (frame.Type != FrameType.Welcome)
                throw new HubProtocolException("it answered HELLO with " + FrameType.Name(frame.Type) + " instead of WELCOME");
            Welcome = frame;
            MaxFrame = frame.MaxFrame;
            origin = null;
            HubEvent started = null;
            if (Resuming && frame.HubInstance == Instance.Value)
            {
                expected = Math.Min(After, frame.CurrentSeq) + 1;
            }
            else if (Resuming)
            {
                started = new HubRestarted(Instance.Value, frame.HubInstance, After);
                expected = 1;
                newInstance = true;
            }
            else if (last.HasValue && last.Value > 0)
            {
                // A start with the last K broadcasts begins at or before current_seq + 1.
                expected = null;
                startAfter = frame.CurrentSeq > last.Value ? frame.CurrentSeq - last.Value : 0;
            }
            else
            {
                expected = frame.CurrentSeq + 1;
            }
            Instance = frame.HubInstance;
            resume = true;
            return started;
        }

        /// <summary>A fresh nonce for a confirming PING.</summary>
        public ulong Nonce()
        {
            var nonce = nextNonce;
            nextNonce = (nonce + 1) & (KeepaliveNonce - 1);
            if (nextNonce == 0) nextNonce = 1;
            return nonce;
        }

        /// <summary>The longest body the hub takes from this client: a publisher's must leave
        /// room for the BROADCAST that carries it (section 4.2).</summary>
        public int MaxBody
        {
            get { return (int)Math.Min(int.MaxValue, MaxFrame - (IsListener ? 1u : (uint)Codec.BroadcastOverhead)); }
        }

        /// <summary>A BROADCAST: checked against the sequence, with the ORIGIN before it.
        /// Adds the events it means to <paramref name="events"/>.</summary>
        public void Broadcast(Frame frame, List<HubEvent> events)
        {
            var from = origin;
            origin = null;
            if (expected.HasValue && frame.Seq != expected.Value)
            {
                if (newInstance && frame.Seq > expected.Value)
                    events.Add(new Lagged(frame.Seq - expected.Value, frame.Seq));
                else
                    throw new HubProtocolException("sequence gap: expected #" + expected.Value + ", got #" + frame.Seq + " with no LAGGED notice");
            }
            newInstance = false;
            expected = frame.Seq + 1;
            var o = from == null ? null : new MessageOrigin(from.HubInstance, from.Seq, from.Sender, from.Text);
            events.Add(new Message(frame.Seq, frame.Sender, frame.TimestampUs, frame.Body, o));
        }

        /// <summary>Any frame but a BROADCAST: an ORIGIN is kept for the BROADCAST that must
        /// come next, and dropped by any other frame.</summary>
        public void Other(Frame frame)
        {
            origin = frame != null && frame.Type == FrameType.Origin ? frame : null;
            if (frame != null && frame.Type == FrameType.Lagged) expected = frame.NextSeq;
        }
    }
}
