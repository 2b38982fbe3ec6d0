// Every way a session with a hub can fail, as exceptions whose messages name the cause
// and, where the user can do something, the fix. All derive from HubException.
using System;

namespace Pipehub
{
    /// <summary>Base class of every exception this library throws about a hub.</summary>
    public class HubException : Exception
    {
        public HubException(string message) : base(message) { }
        public HubException(string message, Exception inner) : base(message, inner) { }

        /// <summary>Whether trying again later may well succeed (no hub yet, connection
        /// lost, hub full or shutting down): what a reconnecting client retries.</summary>
        public virtual bool IsTransient { get { return false; } }
    }

    /// <summary>Nothing serves the endpoint: no socket or pipe, or a socket left over from
    /// a hub that has exited.</summary>
    public sealed class NoHubException : HubException
    {
        public NoHubException(string endpoint, string address, string cause, Exception inner = null)
            : base("no hub at " + (endpoint == address ? endpoint : endpoint + " at " + address) + " (" + cause + "); start one with: pipehub --endpoint " + endpoint, inner)
        {
            Endpoint = endpoint;
        }

        public string Endpoint { get; }
        public override bool IsTransient { get { return true; } }
    }

    /// <summary>The hub answered HELLO with REFUSED: it will not serve this client.</summary>
    public sealed class HubRefusedException : HubException
    {
        public HubRefusedException(ushort code, string text)
            : base("the hub refused the connection: " + Name(code) + (text.Length > 0 ? ": " + text : "") + Hint(code))
        {
            Code = code; Text = text;
        }

        /// <summary>1 unsupported version, 2 hub full, 3 not permitted, 4 shutting down.</summary>
        public ushort Code { get; }
        /// <summary>The hub's explanation.</summary>
        public string Text { get; }
        /// <summary>The code's name, such as "hub full".</summary>
        public string Reason { get { return Name(Code); } }
        public override bool IsTransient { get { return Code == 2 || Code == 4; } }

        static string Name(ushort code)
        {
            switch (code)
            {
                case 1: return "unsupported version";
                case 2: return "hub full";
                case 3: return "not permitted";
                case 4: return "shutting down";
                default: return "code " + code;
            }
        }

        static string Hint(ushort code)
        {
            switch (code)
            {
                case 1: return " (use a pipehub client of the same protocol version as the hub)";
                case 2: return " (try again when clients have left, or raise the hub's --max-clients)";
                case 3: return " (ask the hub's operator for access: pipehub --publishers, --allow-uid)";
                case 4: return " (try again once the hub has been restarted)";
                default: return "";
            }
        }
    }

    /// <summary>The hub sent ERROR: it says this client broke the protocol, and closed.</summary>
    public sealed class HubProtocolErrorException : HubException
    {
        public HubProtocolErrorException(ushort code, string text)
            : base("the hub ended the session over a protocol error: " + Name(code) + (text.Length > 0 ? ": " + text : "") + " (this client and the hub may speak different versions of the protocol)")
        {
            Code = code; Text = text;
        }

        public ushort Code { get; }
        public string Text { get; }

        static string Name(ushort code)
        {
            string[] names = { null, "malformed frame", "frame too large", "bad magic", "unexpected frame", "unknown frame type", "unsupported version" };
            return code < names.Length && names[code] != null ? names[code] : "code " + code;
        }
    }

    /// <summary>The hub's bytes are not valid pipehub frames, or its sequence numbers
    /// jumped without a LAGGED notice.</summary>
    public sealed class HubProtocolException : HubException
    {
        public HubProtocolException(string problem)
            : base("the hub broke the protocol: " + problem + " (is the endpoint a pipehub hub of a matching version?)") { }
    }

    /// <summary>The connection ended without BYE: the hub crashed, was killed, hangs, or
    /// the connection was cut.</summary>
    public sealed class HubConnectionLostException : HubException
    {
        public HubConnectionLostException(string endpoint, string cause, Exception inner = null)
            : base("lost the connection to the hub at " + endpoint + ": " + cause, inner)
        {
            Endpoint = endpoint;
        }

        public string Endpoint { get; }
        public override bool IsTransient { get { return true; } }
    }

    /// <summary>The hub said BYE (it shut down, or the operator removed this client) while
    /// this client waited for an answer, or the client was used after it was closed.</summary>
    public sealed class HubClosedException : HubException
    {
        public HubClosedException(string message, ByeReason bye = null) : base(message) { Bye = bye; }

        /// <summary>The BYE, if the hub said one.</summary>
        public ByeReason Bye { get; }
        public override bool IsTransient { get { return Bye != null && Bye.IsShutdown; } }
    }

    /// <summary>A message longer than the hub takes; nothing was sent.</summary>
    public sealed class MessageTooLargeException : ArgumentException
    {
        public MessageTooLargeException(int length, int limit)
            : base("a message of " + length + " bytes is longer than the hub accepts (" + limit + " bytes per message); split it into smaller messages")
        {
            Length = length; Limit = limit;
        }

        public int Length { get; }
        public int Limit { get; }
    }

    /// <summary>An endpoint that names nothing: empty, or pipe: without a bare name.</summary>
    public sealed class EndpointException : ArgumentException
    {
        public EndpointException(string message) : base(message) { }
    }
}
