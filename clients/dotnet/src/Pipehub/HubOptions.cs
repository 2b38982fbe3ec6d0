// How to connect: where, as what, from where in the hub's stream, and how patiently.
using System;

namespace Pipehub
{
    /// <summary>What a client is to the hub.</summary>
    public enum HubRole
    {
        /// <summary>Receives every broadcast; what it sends goes to the operator's console.</summary>
        Listener = 1,
        /// <summary>What it sends is broadcast to every listener; receives no broadcasts.</summary>
        Publisher = 2,
    }

    /// <summary>The options of <see cref="HubClient.ConnectAsync"/>.</summary>
    public sealed class HubOptions
    {
        /// <summary>A socket path, <c>pipe:NAME</c>, or on Windows a pipe name or path.
        /// Null: <c>PIPEHUB_ENDPOINT</c>, else the platform default (<see cref="HubEndpoint.Default"/>).</summary>
        public string Endpoint { get; set; }
        /// <summary>The name the operator sees (at most 64 bytes of UTF-8).</summary>
        public string Name { get; set; } = "";
        public HubRole Role { get; set; } = HubRole.Listener;
        /// <summary>A listener starts with up to this many of the latest broadcasts the hub holds.</summary>
        public uint? Last { get; set; }
        /// <summary>A listener continues right after this position of an earlier session
        /// (<see cref="HubClient.Position"/>); takes precedence over <see cref="Last"/>.</summary>
        public HubPosition? ResumeAfter { get; set; }
        /// <summary>Outlive lost connections, BYE for shutdown and hub restarts: reconnect
        /// after a back-off wait (0.1 s doubling to 5 s) and resume after the last broadcast
        /// read. The first connection, too, waits for a hub that is not there yet.</summary>
        public bool Reconnect { get; set; }
        /// <summary>After this long without a frame from the hub, send it a PING; after
        /// twice as long, take it for gone. Null: wait forever. 30 s by default, as the hub's.</summary>
        public TimeSpan? Keepalive { get; set; } = TimeSpan.FromSeconds(30);
        /// <summary>How long to wait for the hub's answer to HELLO.</summary>
        public TimeSpan WelcomeTimeout { get; set; } = TimeSpan.FromSeconds(10);
        /// <summary>How many events are read ahead of the program. When the program does not
        /// take them, the client stops reading, and the hub sees a slow listener.</summary>
        public int EventBuffer { get; set; } = 1024;
    }
}
