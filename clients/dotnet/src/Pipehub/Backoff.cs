// How long a client waits between attempts to reconnect: 0.1 s first, doubling up to 5 s,
// each wait moved by up to ±20 % so that listeners that lost the same hub do not all knock
// at once. The schedule of pipehub-client.
using System;

namespace Pipehub
{
    internal sealed class Backoff
    {
        static readonly Random Shared = new Random();
        readonly TimeSpan first, max;
        TimeSpan next;

        public Backoff(TimeSpan first, TimeSpan max)
        {
            this.first = first;
            this.max = max < first ? first : max;
            next = first;
        }

        public TimeSpan NextWait()
        {
            var wait = next;
            next = TimeSpan.FromTicks(Math.Min(next.Ticks * 2, max.Ticks));
            double jitter;
            lock (Shared) jitter = Shared.NextDouble() * 2 - 1;
            return TimeSpan.FromTicks((long)(wait.Ticks * (1 + 0.2 * jitter)));
        }

        public void Reset() { next = first; }
    }
}
