// Where a hub serves, and opening a connection to it (protocol section 2). Platform
// differences live here alone: a Unix domain socket on Linux and macOS, a named pipe
// (NamedPipeClientStream) on Windows. Everything above sees one Stream.
using System;
using System.IO;
using System.IO.Pipes;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Pipehub
{
    /// <summary>The endpoint rules the pipehub programs follow: the one given, else
    /// PIPEHUB_ENDPOINT, else the platform default; <c>pipe:NAME</c> is where .NET's
    /// <c>NamedPipeClientStream(".", NAME)</c> looks for the pipe.</summary>
    public static class HubEndpoint
    {
        public const string EnvironmentVariable = "PIPEHUB_ENDPOINT";
        const string PipePrefix = "pipe:";
        /// <summary>How long to wait between two attempts to reach a busy hub, and for how
        /// long in all (a full connection queue, or every pipe instance taken).</summary>
        static readonly TimeSpan BusyRetry = TimeSpan.FromMilliseconds(50);
        static readonly TimeSpan BusyWait = TimeSpan.FromSeconds(5);

        internal static bool IsWindows
        {
            get { return Environment.OSVersion.Platform == PlatformID.Win32NT; }
        }

        /// <summary>The endpoint to use when none is given: PIPEHUB_ENDPOINT if set and not
        /// empty, else $XDG_RUNTIME_DIR/pipehub.sock, else TMP/pipehub-UID/pipehub.sock; on
        /// Windows \\.\pipe\pipehub.</summary>
        public static string Default()
        {
            var value = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (!string.IsNullOrEmpty(value)) return value;
            if (IsWindows) return @"\\.\pipe\pipehub";
            var runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            if (!string.IsNullOrEmpty(runtime)) return Path.Combine(runtime, "pipehub.sock");
            return Path.Combine(Path.GetTempPath(), "pipehub-" + Uid(), "pipehub.sock");
        }

        /// <summary>The address to connect to for <paramref name="endpoint"/>: a socket path
        /// on Unix, a pipe path (\\.\pipe\NAME) on Windows.</summary>
        public static string Resolve(string endpoint)
        {
            if (string.IsNullOrEmpty(endpoint))
                throw new EndpointException("the endpoint is empty; give a socket path or pipe:NAME, or leave it out (and PIPEHUB_ENDPOINT unset) for the default");
            if (endpoint.StartsWith(PipePrefix, StringComparison.Ordinal))
            {
                var name = endpoint.Substring(PipePrefix.Length);
                if (name.Length == 0)
                    throw new EndpointException("`pipe:` needs a pipe name, as in `pipe:testpipe`");
                if (name.IndexOf('/') >= 0 || name.IndexOf('\\') >= 0)
                    throw new EndpointException("the pipe name in `" + endpoint + "` contains a path separator; `pipe:NAME` takes a bare name (to use a socket at a path of your choice, pass the path itself)");
                if (IsWindows) return @"\\.\pipe\" + name;
                // .NET's Path.GetTempPath() on Unix: $TMPDIR with a '/' appended, or /tmp/.
                var tmp = Environment.GetEnvironmentVariable("TMPDIR");
                if (string.IsNullOrEmpty(tmp)) tmp = "/tmp/";
                if (!tmp.EndsWith("/", StringComparison.Ordinal)) tmp += "/";
                return tmp + "CoreFxPipe_" + name;
            }
            if (IsWindows && !endpoint.StartsWith(@"\\", StringComparison.Ordinal)) return @"\\.\pipe\" + endpoint;
            return endpoint;
        }

        static string Uid()
        {
            // No getuid in the base class library: the owner of /proc/self is this process's
            // user on Linux; elsewhere the user name stands in.
            try
            {
                foreach (var line in File.ReadAllLines("/proc/self/status"))
                    if (line.StartsWith("Uid:", StringComparison.Ordinal))
                        return line.Substring(4).Trim().Split('\t', ' ')[0];
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            return Environment.UserName;
        }

        /// <summary>Opens a byte stream to the hub at <paramref name="endpoint"/>, retrying a
        /// busy hub for a few seconds. Throws <see cref="NoHubException"/> when nothing serves it.</summary>
        internal static async Task<Stream> ConnectAsync(string endpoint, CancellationToken cancel)
        {
            var address = Resolve(endpoint);
            return IsWindows ? await ConnectPipeAsync(endpoint, address, cancel).ConfigureAwait(false)
                             : await ConnectSocketAsync(endpoint, address, cancel).ConfigureAwait(false);
        }

        static async Task<Stream> ConnectSocketAsync(string endpoint, string address, CancellationToken cancel)
        {
            var deadline = DateTime.UtcNow + BusyWait;
            while (true)
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    var to = UnixEndPoint(address);
                    await Task.Factory.FromAsync(socket.BeginConnect, socket.EndConnect, to, null).ConfigureAwait(false);
                    return new NetworkStream(socket, true);
                }
                catch (SocketException err)
                {
                    socket.Dispose();
                    if ((err.SocketErrorCode == SocketError.WouldBlock || err.SocketErrorCode == SocketError.TryAgain) && DateTime.UtcNow < deadline)
                    {
                        // EAGAIN: the hub's connection queue is full. It is there, but busy.
                        await Task.Delay(BusyRetry, cancel).ConfigureAwait(false);
                        continue;
                    }
                    if (err.SocketErrorCode == SocketError.ConnectionRefused || err.SocketErrorCode == SocketError.AddressNotAvailable
                        || err.SocketErrorCode == SocketError.WouldBlock || err.SocketErrorCode == SocketError.TryAgain)
                    {
                        string cause = !File.Exists(address) && !Directory.Exists(address) ? "no socket there"
                            : err.SocketErrorCode == SocketError.ConnectionRefused ? "connection refused: a socket left by a hub that exited"
                            : err.Message;
                        throw new NoHubException(endpoint, address, cause, err);
                    }
                    throw new HubConnectionLostException(endpoint, "could not connect: " + err.Message, err);
                }
            }
        }

        static EndPoint UnixEndPoint(string path)
        {
#if NETSTANDARD2_1_OR_GREATER || NETCOREAPP2_1_OR_GREATER
            return new UnixDomainSocketEndPoint(path);
#else
            return new UnixSocketAddress(path);
#endif
        }

        static async Task<Stream> ConnectPipeAsync(string endpoint, string address, CancellationToken cancel)
        {
            // \\SERVER\pipe\NAME
            var parts = address.Substring(2).Split(new[] { '\\' }, 3);
            if (parts.Length != 3 || !string.Equals(parts[1], "pipe", StringComparison.OrdinalIgnoreCase))
                throw new EndpointException("`" + endpoint + "` is not a pipe path of the form \\\\.\\pipe\\NAME");
            var pipe = new NamedPipeClientStream(parts[0], parts[2], PipeDirection.InOut, PipeOptions.Asynchronous);
            try
            {
                // Waits while every instance is taken (ERROR_PIPE_BUSY) and while the pipe
                // does not exist at all: a missing hub shows as the time running out.
                await pipe.ConnectAsync((int)BusyWait.TotalMilliseconds, cancel).ConfigureAwait(false);
                return pipe;
            }
            catch (TimeoutException err)
            {
                pipe.Dispose();
                throw new NoHubException(endpoint, address, "no such pipe, or every instance stayed busy, for " + BusyWait.TotalSeconds + " s", err);
            }
            catch (IOException err)
            {
                pipe.Dispose();
                throw new HubConnectionLostException(endpoint, "could not open the pipe: " + err.Message, err);
            }
        }
    }

#if !(NETSTANDARD2_1_OR_GREATER || NETCOREAPP2_1_OR_GREATER)
    /// <summary>A Unix socket address, for runtimes without UnixDomainSocketEndPoint
    /// (Mono's base class library): sa_family then the path, NUL-terminated.</summary>
    internal sealed class UnixSocketAddress : EndPoint
    {
        readonly string path;

        public UnixSocketAddress(string path) { this.path = path; }

        public override AddressFamily AddressFamily { get { return AddressFamily.Unix; } }

        public override SocketAddress Serialize()
        {
            var bytes = Encoding.UTF8.GetBytes(path);
            var address = new SocketAddress(AddressFamily.Unix, 2 + bytes.Length + 1);
            for (int i = 0; i < bytes.Length; i++) address[2 + i] = bytes[i];
            address[2 + bytes.Length] = 0;
            return address;
        }

        public override EndPoint Create(SocketAddress address) { return new UnixSocketAddress(path); }

        public override string ToString() { return path; }
    }
#endif
}
