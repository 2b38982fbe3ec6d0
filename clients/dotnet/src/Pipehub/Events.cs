// What a listener receives: messages, direct messages and notices of loss, in the order
// the hub sent them. HubClient.ReceiveAsync (and ReadAllAsync) hand them out.
using System;

namespace Pipehub
{
    /// <summary>Something the hub told this client. One of <see cref="Message"/>,
    /// <see cref="DirectMessage"/>, <see cref="Lagged"/> and <see cref="HubRestarted"/>.</summary>
    public abstract class HubEvent
    {
        internal HubEvent() { }
    }

    /// <summary>Where a message that came from another hub over a bridge was first
    /// broadcast (protocol section 4.15).</summary>
    public sealed class MessageOrigin
    {
        internal MessageOrigin(ulong hubInstance, ulong seq, ulong sender, string hubName)
        {
            HubInstance = hubInstance; Seq = seq; Sender = sender; HubName = hubName;
        }

        /// <summary>The instance ID of the hub where it was first broadcast.</summary>
        public ulong HubInstance { get; }
        /// <summary>Its sequence number on that hub.</summary>
        public ulong Seq { get; }
        /// <summary>Who sent it on that hub (0: its operator).</summary>
        public ulong Sender { get; }
        /// <summary>That hub's name (pipehub --hub-name); may be empty.</summary>
        public string HubName { get; }
    }

    /// <summary>A broadcast, numbered in the hub's sequence: each one more than the one
    /// before, unless a <see cref="Lagged"/> between them says how many were lost.</summary>
    public sealed class Message : HubEvent
    {
        string text;

        internal Message(ulong seq, ulong sender, ulong timestampUs, byte[] body, MessageOrigin origin)
        {
            Seq = seq; Sender = sender; TimestampUs = timestampUs; Body = body; Origin = origin;
        }

        /// <summary>The hub-wide sequence number.</summary>
        public ulong Seq { get; }
        /// <summary>The client ID of the publisher; <see cref="Senders.Operator"/> for the
        /// hub's console, <see cref="Senders.Remote"/> for another hub (see <see cref="Origin"/>).</summary>
        public ulong Sender { get; }
        /// <summary>When the hub took it, in microseconds since the Unix epoch.</summary>
        public ulong TimestampUs { get; }
        /// <summary>When the hub took it.</summary>
        public DateTimeOffset Timestamp { get { return Senders.Time(TimestampUs); } }
        /// <summary>The message, exactly the bytes that were sent.</summary>
        public byte[] Body { get; }
        /// <summary>The body as text (invalid UTF-8 replaced by U+FFFD).</summary>
        public string Text { get { return text ?? (text = Utf8.Lenient(Body, 0, Body.Length)); } }
        /// <summary>Where it came from, for a message from another hub over a bridge; null
        /// for a message broadcast on this hub.</summary>
        public MessageOrigin Origin { get; }

        public override string ToString() { return "#" + Seq + " <" + Senders.Describe(Sender) + "> " + Text; }
    }

    /// <summary>A message for this client alone, such as the operator's <c>/to</c>: not a
    /// broadcast, without a sequence number, never replayed.</summary>
    public sealed class DirectMessage : HubEvent
    {
        string text;

        internal DirectMessage(ulong sender, ulong timestampUs, byte[] body)
        {
            Sender = sender; TimestampUs = timestampUs; Body = body;
        }

        public ulong Sender { get; }
        public ulong TimestampUs { get; }
        public DateTimeOffset Timestamp { get { return Senders.Time(TimestampUs); } }
        public byte[] Body { get; }
        public string Text { get { return text ?? (text = Utf8.Lenient(Body, 0, Body.Length)); } }

        public override string ToString() { return "direct from " + Senders.Describe(Sender) + ": " + Text; }
    }

    /// <summary>This client will never receive <see cref="Missed"/> broadcasts: it fell
    /// behind, or they were gone from the hub when it resumed. The next is <see cref="NextSeq"/>.</summary>
    public sealed class Lagged : HubEvent
    {
        internal Lagged(ulong missed, ulong nextSeq) { Missed = missed; NextSeq = nextSeq; }

        /// <summary>How many broadcasts were lost: exact.</summary>
        public ulong Missed { get; }
        public ulong NextSeq { get; }

        public override string ToString() { return "missed " + Missed + " messages; continuing at #" + NextSeq; }
    }

    /// <summary>On reconnecting, the hub turned out to be a new instance: it was restarted
    /// and its sequence numbers began again at 1. What the previous instance broadcast after
    /// <see cref="After"/> may have been lost, and how many cannot be known. (Of the new
    /// instance's broadcasts, a <see cref="Lagged"/> counts exactly those it no longer held.)</summary>
    public sealed class HubRestarted : HubEvent
    {
        internal HubRestarted(ulong previousInstance, ulong instance, ulong after)
        {
            PreviousInstance = previousInstance; Instance = instance; After = after;
        }

        public ulong PreviousInstance { get; }
        public ulong Instance { get; }
        /// <summary>The last sequence number received from the previous instance.</summary>
        public ulong After { get; }

        public override string ToString()
        {
            return "the hub was restarted (instance " + Instance.ToString("x16") + "); what it broadcast after #" + After + " may have been lost";
        }
    }

    /// <summary>A place in a hub's stream: the last broadcast received of one hub instance.
    /// Pass it as <see cref="HubOptions.ResumeAfter"/> to continue right after it.</summary>
    public struct HubPosition
    {
        public HubPosition(ulong instance, ulong seq) { Instance = instance; Seq = seq; }

        public ulong Instance { get; }
        public ulong Seq { get; }

        public override string ToString() { return Instance.ToString("x16") + "#" + Seq; }
    }

    /// <summary>Why the hub closed a healthy session (BYE).</summary>
    public sealed class ByeReason
    {
        internal ByeReason(byte code, string text) { Code = code; Text = text; }

        /// <summary>1: the hub is shutting down; 2: the operator removed this client.</summary>
        public byte Code { get; }
        public string Text { get; }
        public bool IsShutdown { get { return Code == 1; } }
        public bool IsKicked { get { return Code == 2; } }

        public override string ToString()
        {
            string name = Code == 1 ? "shutdown" : Code == 2 ? "kicked" : "reason " + Code;
            return Text.Length > 0 ? name + ": " + Text : name;
        }
    }

    /// <summary>The senders with a meaning of their own (protocol section 6.3).</summary>
    public static class Senders
    {
        /// <summary>The hub's operator console.</summary>
        public const ulong Operator = 0;
        /// <summary>Another hub, over a bridge.</summary>
        public const ulong Remote = ulong.MaxValue;

        internal static string Describe(ulong sender)
        {
            return sender == Operator ? "operator" : sender == Remote ? "remote" : "client " + sender;
        }

        internal static DateTimeOffset Time(ulong timestampUs)
        {
            return new DateTimeOffset(1970, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks((long)(timestampUs * 10));
        }
    }
}
