// HubClient: one client's session with a hub, across as many connections as it takes.
//
// One background task reads the connection. It answers the hub's keepalive PING even
// while the program is busy, completes the confirmations SendAsync waits for, and queues
// events for ReceiveAsync. The queue is bounded (HubOptions.EventBuffer): when the program
// does not take events, the task stops reading, so the hub sees a slow listener as it
// sees any other and paces publishers or reports the loss exactly. While a confirmation
// or a status report is awaited the task reads on past the bound, so that awaiting
// SendAsync inside a receive loop cannot deadlock.
//
// With Reconnect, a lost connection (or BYE for shutdown) is followed by a new one after a
// back-off wait, resuming right after the last broadcast read: nothing twice, nothing
// skipped, and a Lagged for whatever the hub no longer held.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Pipehub
{
    /// <summary>A client of a pipehub hub. Open one with <see cref="ConnectAsync"/>.</summary>
    public sealed class HubClient : IAsyncDisposable, IDisposable
    {
        const int WriteBatch = 64 * 1024;

        readonly HubOptions options;
        readonly string endpoint;
        readonly Session session;
        readonly Backoff backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));
        readonly SemaphoreSlim writeLock = new SemaphoreSlim(1, 1);
        readonly object gate = new object();
        readonly Queue<KeyValuePair<HubEvent, ulong>> events = new Queue<KeyValuePair<HubEvent, ulong>>();
        readonly Dictionary<ulong, TaskCompletionSource<bool>> confirmations = new Dictionary<ulong, TaskCompletionSource<bool>>();
        readonly Queue<TaskCompletionSource<HubStatus>> reports = new Queue<TaskCompletionSource<HubStatus>>();
        readonly List<byte[]> statusParts = new List<byte[]>();
        readonly Timer keepaliveTimer;
        TaskCompletionSource<bool> eventSignal = NewSignal();
        TaskCompletionSource<bool> roomSignal = NewSignal();
        TaskCompletionSource<bool> connectedSignal = NewSignal();
        readonly TaskCompletionSource<bool> finishedSignal = NewSignal();
        Stream stream;
        FrameReader reader;
        Task readerTask;
        bool probeSent;
        bool silent;
        bool finished;
        bool disposed;
        Exception failure;
        long keepaliveNonce;
        /// <summary>When the keepalive watch last saw a write in progress (Stopwatch ticks).</summary>
        long silentSince;

        HubClient(HubOptions options)
        {
            this.options = options;
            endpoint = options.Endpoint ?? HubEndpoint.Default();
            HubEndpoint.Resolve(endpoint);
            if (options.Role != HubRole.Listener && options.Role != HubRole.Publisher)
                throw new ArgumentException("Role must be HubRole.Listener or HubRole.Publisher", "options");
            session = new Session((byte)options.Role, options.Name, options.Last, options.ResumeAfter);
            Position = options.ResumeAfter;
            var interval = options.Keepalive;
            if (interval.HasValue && interval.Value > TimeSpan.Zero)
            {
                var tick = TimeSpan.FromTicks(interval.Value.Ticks / 4);
                keepaliveTimer = new Timer(_ => Watch(interval.Value), null, tick, tick);
            }
        }

        /// <summary>Connects to the hub, sends HELLO and waits for WELCOME. Throws
        /// <see cref="NoHubException"/> if nothing serves the endpoint and
        /// <see cref="HubRefusedException"/> if the hub refuses (with
        /// <see cref="HubOptions.Reconnect"/>, the transient ones are waited out).</summary>
        public static async Task<HubClient> ConnectAsync(HubOptions options = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            var client = new HubClient(options ?? new HubOptions());
            try
            {
                while (true)
                {
                    try
                    {
                        await client.OpenAsync(cancellationToken).ConfigureAwait(false);
                        break;
                    }
                    catch (HubException err)
                    {
                        if (!(client.options.Reconnect && err.IsTransient)) throw;
                    }
                    await Task.Delay(client.backoff.NextWait(), cancellationToken).ConfigureAwait(false);
                }
            }
            catch
            {
                client.Dispose();
                throw;
            }
            client.readerTask = client.RunAsync();
            return client;
        }

        /// <summary>The endpoint this client connects to.</summary>
        public string Endpoint { get { return endpoint; } }
        /// <summary>This client's ID in the current connection's WELCOME.</summary>
        public ulong ClientId { get { return session.Welcome.ClientId; } }
        /// <summary>The hub instance of the current connection.</summary>
        public ulong HubInstance { get { return session.Welcome.HubInstance; } }
        /// <summary>The latest broadcast's sequence number when the current connection opened.</summary>
        public ulong CurrentSeqAtWelcome { get { return session.Welcome.CurrentSeq; } }
        /// <summary>The last broadcast handed out by <see cref="ReceiveAsync"/> (or announced
        /// lost): keep it to resume after it later (<see cref="HubOptions.ResumeAfter"/>).</summary>
        public HubPosition? Position { get; private set; }
        /// <summary>Why the hub closed the session, once it said BYE.</summary>
        public ByeReason Bye { get; private set; }

        /// <summary>The next event: a <see cref="Message"/>, <see cref="DirectMessage"/>,
        /// <see cref="Lagged"/> or <see cref="HubRestarted"/>. Null once the hub has said BYE
        /// (see <see cref="Bye"/>): the normal end of the stream. A lost connection throws
        /// <see cref="HubConnectionLostException"/> unless the client reconnects.</summary>
        public async Task<HubEvent> ReceiveAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            while (true)
            {
                Task wait;
                lock (gate)
                {
                    if (events.Count > 0)
                    {
                        var next = events.Dequeue();
                        roomSignal.TrySetResult(true);
                        Delivered(next.Key, next.Value);
                        return next.Key;
                    }
                    if (finished)
                    {
                        if (failure != null) throw Rethrown(failure);
                        return null;
                    }
                    if (eventSignal.Task.IsCompleted) eventSignal = NewSignal();
                    wait = eventSignal.Task;
                }
                await WaitAsync(wait, cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>Every event until the hub says BYE, for <c>await foreach</c>.</summary>
        public IAsyncEnumerable<HubEvent> ReadAllAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            return new EventStream(this, cancellationToken);
        }

        /// <summary>Sends one message and returns once the hub has taken it: a publisher's
        /// is then broadcast with its sequence number; a listener's is shown to the operator.</summary>
        public Task SendAsync(string text, CancellationToken cancellationToken = default(CancellationToken))
        {
            return SendManyAsync(new[] { Encoding.UTF8.GetBytes(text) }, cancellationToken);
        }

        /// <summary>Sends one message, binary-safe; returns once the hub has taken it.</summary>
        public Task SendAsync(byte[] body, CancellationToken cancellationToken = default(CancellationToken))
        {
            return SendManyAsync(new[] { body }, cancellationToken);
        }

        /// <summary>Sends every message, in order, with one confirmation at the end: cheaper
        /// than SendAsync per message. Returns their number once the hub took them all.</summary>
        public Task<int> SendManyAsync(IEnumerable<string> texts, CancellationToken cancellationToken = default(CancellationToken))
        {
            var bodies = new List<byte[]>();
            foreach (var text in texts) bodies.Add(Encoding.UTF8.GetBytes(text));
            return SendManyAsync(bodies, cancellationToken);
        }

        /// <summary>Sends every message, binary-safe, in order; returns their number once
        /// the hub took them all.</summary>
        public async Task<int> SendManyAsync(IEnumerable<byte[]> bodies, CancellationToken cancellationToken = default(CancellationToken))
        {
            var list = new List<byte[]>(bodies);
            int max = session.MaxBody;
            foreach (var body in list)
            {
                if (body == null) throw new ArgumentNullException("bodies");
                if (body.Length > max) throw new MessageTooLargeException(body.Length, max);
            }
            var confirmed = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var target = await RegisterAsync(nonce => confirmations[nonce] = confirmed, cancellationToken).ConfigureAwait(false);
            var batch = new MemoryStream();
            var header = new byte[5];
            header[4] = FrameType.Send;
            foreach (var body in list)
            {
                Codec.PutU32(header, 0, (uint)(1 + body.Length));
                batch.Write(header, 0, 5);
                batch.Write(body, 0, body.Length);
                if (batch.Length >= WriteBatch)
                {
                    await WriteAsync(target.Key, batch).ConfigureAwait(false);
                    batch.SetLength(0);
                }
            }
            var ping = Codec.Ping(target.Value);
            batch.Write(ping, 0, ping.Length);
            await WriteAsync(target.Key, batch).ConfigureAwait(false);
            await WaitAsync(confirmed.Task, cancellationToken).ConfigureAwait(false);
            await confirmed.Task.ConfigureAwait(false);
            return list.Count;
        }

        /// <summary>Asks the hub for its status report (protocol section 4.14).</summary>
        public async Task<HubStatus> StatusAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            var answer = new TaskCompletionSource<HubStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
            var target = await RegisterAsync(_ => reports.Enqueue(answer), cancellationToken).ConfigureAwait(false);
            var request = Wrap(Codec.StatusRequest());
            await WriteAsync(target.Key, request).ConfigureAwait(false);
            await WaitAsync(answer.Task, cancellationToken).ConfigureAwait(false);
            return await answer.Task.ConfigureAwait(false);
        }

        /// <summary>Closes the connection and stops reading. The session simply ends: the
        /// protocol has no goodbye frame.</summary>
        public ValueTask DisposeAsync()
        {
            // (Not an async ValueTask method: Mono's mcs cannot compile those.)
            return new ValueTask(CloseAsync());
        }

        async Task CloseAsync()
        {
            Close();
            if (readerTask != null)
            {
                try { await readerTask.ConfigureAwait(false); }
                catch (Exception) { }
            }
        }

        public void Dispose() { Close(); }

        void Close()
        {
            lock (gate)
            {
                if (disposed) return;
                disposed = true;
            }
            if (keepaliveTimer != null) keepaliveTimer.Dispose();
            Finish(new HubClosedException("this client was closed"));
            Drop();
        }

        // --- the connection -----------------------------------------------------------

        async Task OpenAsync(CancellationToken cancel)
        {
            var connected = await HubEndpoint.ConnectAsync(endpoint, cancel).ConfigureAwait(false);
            var frames = new FrameReader(connected);
            HubEvent started;
            try
            {
                var hello = session.Hello();
                await connected.WriteAsync(hello, 0, hello.Length, cancel).ConfigureAwait(false);
                var first = frames.NextAsync();
                var timeout = Task.Delay(options.WelcomeTimeout, cancel);
                if (await Task.WhenAny(first, timeout).ConfigureAwait(false) != first)
                {
                    cancel.ThrowIfCancellationRequested();
                    throw new HubException("the endpoint " + endpoint + " accepted the connection but did not answer HELLO within " + options.WelcomeTimeout.TotalSeconds + " s; is it a pipehub hub?");
                }
                Frame answer;
                try { answer = await first.ConfigureAwait(false); }
                catch (FrameException err) { throw new HubProtocolException(err.Message); }
                catch (IOException err) { throw new HubConnectionLostException(endpoint, err.Message + " before WELCOME", err); }
                if (answer == null) throw new HubConnectionLostException(endpoint, "the hub closed the connection before WELCOME");
                started = session.Welcomed(answer, endpoint);
                frames.MaxFrame = session.MaxFrame;
            }
            catch
            {
                connected.Dispose();
                throw;
            }
            lock (gate)
            {
                stream = connected;
                reader = frames;
                probeSent = false;
                silent = false;
                Bye = null;
                if (started != null) Enqueue(started);
                connectedSignal.TrySetResult(true);
            }
        }

        async Task RunAsync()
        {
            await Task.Yield();
            while (true)
            {
                HubException error;
                try
                {
                    await ReadSessionAsync().ConfigureAwait(false);
                    if (!(options.Reconnect && Bye.IsShutdown))
                    {
                        Drop();
                        Finish(null);
                        return;
                    }
                    error = new HubClosedException("the hub closed the session: " + Bye, Bye);
                }
                catch (HubException err)
                {
                    error = err;
                }
                catch (Exception err)
                {
                    error = new HubConnectionLostException(endpoint, err.Message, err);
                }
                Drop();
                if (!(options.Reconnect && error.IsTransient) || disposed)
                {
                    Finish(error);
                    return;
                }
                FailWaiters(error);
                try
                {
                    await ReconnectAsync().ConfigureAwait(false);
                }
                catch (Exception err)
                {
                    Finish(err);
                    return;
                }
            }
        }

        async Task ReconnectAsync()
        {
            while (true)
            {
                await Task.Delay(backoff.NextWait()).ConfigureAwait(false);
                if (disposed) throw new HubClosedException("this client was closed");
                try
                {
                    await OpenAsync(CancellationToken.None).ConfigureAwait(false);
                    return;
                }
                catch (HubException err)
                {
                    if (!err.IsTransient) throw;
                }
            }
        }

        /// <summary>Reads the current connection until BYE (returns) or its loss (throws).</summary>
        async Task ReadSessionAsync()
        {
            FrameReader frames;
            Stream current;
            lock (gate)
            {
                frames = reader;
                current = stream;
            }
            var found = new List<HubEvent>();
            while (true)
            {
                Frame frame;
                try
                {
                    frame = await frames.NextAsync().ConfigureAwait(false);
                }
                catch (FrameException err) { throw new HubProtocolException(err.Message); }
                catch (Exception err)
                {
                    if (silent) throw SilentHub();
                    if (err is IOException || err is ObjectDisposedException)
                        throw new HubConnectionLostException(endpoint, err.Message, err);
                    throw;
                }
                if (frame == null)
                {
                    if (silent) throw SilentHub();
                    throw new HubConnectionLostException(endpoint, "the hub closed the connection without a BYE (it may have crashed or been killed, or the connection was cut)");
                }
                if (frame.Type == FrameType.Broadcast)
                {
                    found.Clear();
                    session.Broadcast(frame, found);
                    lock (gate) foreach (var e in found) Enqueue(e);
                    backoff.Reset();
                }
                else
                {
                    session.Other(frame);
                    switch (frame.Type)
                    {
                        case FrameType.Lagged:
                            lock (gate) Enqueue(new Lagged(frame.Missed, frame.NextSeq));
                            break;
                        case FrameType.Direct:
                            lock (gate) Enqueue(new DirectMessage(frame.Sender, frame.TimestampUs, frame.Body));
                            break;
                        case FrameType.Ping:
                            await WriteAsync(current, Wrap(Codec.Pong(frame.Nonce))).ConfigureAwait(false);
                            break;
                        case FrameType.Pong:
                            Confirm(frame.Nonce);
                            break;
                        case FrameType.Status:
                            StatusPart(frame);
                            break;
                        case FrameType.Bye:
                            Bye = new ByeReason(frame.Reason, frame.Text);
                            return;
                        case FrameType.Error:
                            throw new HubProtocolErrorException(frame.Code, frame.Text);
                        case FrameType.Origin:
                            break;
                        default:
                            throw new HubProtocolException("it sent " + FrameType.Name(frame.Type) + " in an open session");
                    }
                }
                while (true)
                {
                    Task room;
                    lock (gate)
                    {
                        if (events.Count < Math.Max(1, options.EventBuffer) || confirmations.Count > 0 || reports.Count > 0 || disposed) break;
                        if (roomSignal.Task.IsCompleted) roomSignal = NewSignal();
                        room = roomSignal.Task;
                    }
                    await room.ConfigureAwait(false);
                }
            }
        }

        HubConnectionLostException SilentHub()
        {
            var interval = options.Keepalive.GetValueOrDefault();
            return new HubConnectionLostException(endpoint, "the hub sent nothing for " + (2 * interval.TotalSeconds) + " s, not even an answer to a keepalive PING (it may hang, or be gone without closing)");
        }

        /// <summary>The keepalive watch, on a timer: a PING after one interval of silence,
        /// the connection closed after two.</summary>
        void Watch(TimeSpan interval)
        {
            Stream current;
            FrameReader frames;
            bool probe = false;
            lock (gate)
            {
                current = stream;
                frames = reader;
                if (current == null || frames == null) return;
                // A write waiting for the hub to read is a publisher the hub paces (protocol
                // section 6.5): its silence is no sign of a dead hub, until the write is done.
                if (writeLock.CurrentCount == 0) { probeSent = false; silentSince = Stopwatch.GetTimestamp(); return; }
                var since = Math.Max(frames.LastHeard, silentSince);
                var quiet = TimeSpan.FromSeconds((Stopwatch.GetTimestamp() - since) / (double)Stopwatch.Frequency);
                if (quiet < interval) { probeSent = false; return; }
                if (quiet >= interval + interval && probeSent)
                {
                    silent = true;
                }
                else if (!probeSent)
                {
                    probeSent = true;
                    probe = true;
                }
            }
            if (silent)
            {
                current.Dispose();
                return;
            }
            if (probe)
            {
                var nonce = Session.KeepaliveNonce | (ulong)Interlocked.Increment(ref keepaliveNonce);
                // Not awaited: a timer callback; WriteAsync swallows what the reader reports.
                WriteAsync(current, Wrap(Codec.Ping(nonce))).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }

        /// <summary>Waits until connected, then registers what waits for an answer (under the
        /// lock, so a loss of this connection fails it). Returns the stream and the nonce.</summary>
        async Task<KeyValuePair<Stream, ulong>> RegisterAsync(Action<ulong> register, CancellationToken cancel)
        {
            while (true)
            {
                Task connected;
                lock (gate)
                {
                    if (finished) throw Rethrown(failure ?? new HubClosedException("the hub closed the session: " + Bye, Bye));
                    if (stream != null)
                    {
                        var nonce = session.Nonce();
                        register(nonce);
                        roomSignal.TrySetResult(true);
                        return new KeyValuePair<Stream, ulong>(stream, nonce);
                    }
                    if (connectedSignal.Task.IsCompleted) connectedSignal = NewSignal();
                    connected = connectedSignal.Task;
                }
                await WaitAsync(Task.WhenAny(connected, finishedSignal.Task), cancel).ConfigureAwait(false);
            }
        }

        async Task WriteAsync(Stream target, MemoryStream data)
        {
            await writeLock.WaitAsync().ConfigureAwait(false);
            try
            {
                await target.WriteAsync(data.GetBuffer(), 0, (int)data.Length).ConfigureAwait(false);
            }
            catch (Exception err)
            {
                if (!(err is IOException || err is ObjectDisposedException || err is NotSupportedException)) throw;
                // The reader finds out why (the hub's ERROR or BYE comes before it closes) and
                // fails whatever waits for an answer with that.
            }
            finally
            {
                writeLock.Release();
            }
        }

        void Confirm(ulong nonce)
        {
            TaskCompletionSource<bool> waiter = null;
            lock (gate)
            {
                if (confirmations.TryGetValue(nonce, out waiter)) confirmations.Remove(nonce);
            }
            if (waiter != null) waiter.TrySetResult(true);
        }

        void StatusPart(Frame frame)
        {
            statusParts.Add(frame.Body);
            if (frame.More) return;
            var all = new MemoryStream();
            foreach (var part in statusParts) all.Write(part, 0, part.Length);
            statusParts.Clear();
            TaskCompletionSource<HubStatus> waiter = null;
            lock (gate) if (reports.Count > 0) waiter = reports.Dequeue();
            if (waiter == null) return;
            try { waiter.TrySetResult(new HubStatus(Utf8.Lenient(all.GetBuffer(), 0, (int)all.Length))); }
            catch (HubException err) { waiter.TrySetException(err); }
        }

        /// <summary>Adds an event for the program; the caller holds the lock.</summary>
        void Enqueue(HubEvent e)
        {
            events.Enqueue(new KeyValuePair<HubEvent, ulong>(e, session.Instance.GetValueOrDefault()));
            eventSignal.TrySetResult(true);
        }

        void Delivered(HubEvent e, ulong instance)
        {
            if (e is Message m) Position = new HubPosition(instance, m.Seq);
            else if (e is Lagged l) Position = new HubPosition(instance, l.NextSeq - 1);
            else if (e is HubRestarted) Position = new HubPosition(instance, 0);
        }

        void Drop()
        {
            Stream old;
            lock (gate)
            {
                old = stream;
                stream = null;
                reader = null;
                if (connectedSignal.Task.IsCompleted) connectedSignal = NewSignal();
            }
            if (old != null) old.Dispose();
        }

        void FailWaiters(Exception error)
        {
            var waiting = new List<TaskCompletionSource<bool>>();
            var asking = new List<TaskCompletionSource<HubStatus>>();
            lock (gate)
            {
                waiting.AddRange(confirmations.Values);
                confirmations.Clear();
                asking.AddRange(reports);
                reports.Clear();
                statusParts.Clear();
            }
            foreach (var w in waiting) w.TrySetException(error);
            foreach (var a in asking) a.TrySetException(error);
        }

        void Finish(Exception error)
        {
            lock (gate)
            {
                if (finished) return;
                finished = true;
                failure = error;
                eventSignal.TrySetResult(true);
                roomSignal.TrySetResult(true);
            }
            finishedSignal.TrySetResult(true);
            FailWaiters(error ?? new HubClosedException("the hub closed the session: " + Bye, Bye));
        }

        static Exception Rethrown(Exception error)
        {
            // Each caller gets the same cause; the stack trace is the reader's.
            return error;
        }

        static async Task WaitAsync(Task task, CancellationToken cancel)
        {
            if (!cancel.CanBeCanceled || task.IsCompleted)
            {
                await task.ConfigureAwait(false);
                return;
            }
            var cancelled = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (cancel.Register(() => cancelled.TrySetResult(true)))
            {
                if (await Task.WhenAny(task, cancelled.Task).ConfigureAwait(false) != task)
                    cancel.ThrowIfCancellationRequested();
            }
        }

        /// <summary>A frame as a stream WriteAsync can take the buffer of.</summary>
        static MemoryStream Wrap(byte[] frame)
        {
            return new MemoryStream(frame, 0, frame.Length, false, true);
        }

        static TaskCompletionSource<bool> NewSignal()
        {
            return new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        /// <summary>ReadAllAsync's stream: each enumeration receives from the same client.</summary>
        sealed class EventStream : IAsyncEnumerable<HubEvent>
        {
            readonly HubClient client;
            readonly CancellationToken cancel;

            public EventStream(HubClient client, CancellationToken cancel)
            {
                this.client = client;
                this.cancel = cancel;
            }

            public IAsyncEnumerator<HubEvent> GetAsyncEnumerator(CancellationToken cancellationToken = default(CancellationToken))
            {
                var token = cancellationToken.CanBeCanceled ? cancellationToken : cancel;
                return new Enumerator(client, token);
            }

            sealed class Enumerator : IAsyncEnumerator<HubEvent>
            {
                readonly HubClient client;
                readonly CancellationToken cancel;

                public Enumerator(HubClient client, CancellationToken cancel)
                {
                    this.client = client;
                    this.cancel = cancel;
                }

                public HubEvent Current { get; private set; }

                public async ValueTask<bool> MoveNextAsync()
                {
                    Current = await client.ReceiveAsync(cancel).ConfigureAwait(false);
                    return Current != null;
                }

                public ValueTask DisposeAsync() { return default(ValueTask); }
            }
        }
    }
}
