// Cuts whole frames out of a connection's byte stream: a read buffer, a cheap "is a whole
// frame here?" check, then decode. A length of 0 or over max_frame is refused as soon as
// its four bytes are here. End of stream on a frame boundary is a clean close (null);
// inside a frame it is a lost connection.
using System;
using System.Diagnostics;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace Pipehub
{
    internal sealed class FrameReader
    {
        readonly Stream stream;
        byte[] buf = new byte[64 * 1024];
        int start, end;
        long lastHeard = Stopwatch.GetTimestamp();

        public FrameReader(Stream stream) { this.stream = stream; }

        public uint MaxFrame = Codec.DefaultMaxFrame;

        /// <summary>When bytes last arrived, in Stopwatch ticks.</summary>
        public long LastHeard { get { return Interlocked.Read(ref lastHeard); } }

        /// <summary>The next frame the client knows; unknown hub frames are skipped.</summary>
        public async Task<Frame> NextAsync()
        {
            while (true)
            {
                int have = end - start;
                if (have >= 4)
                {
                    uint length = Codec.U32(buf, start);
                    if (length == 0 || length > MaxFrame)
                        throw new FrameException("the hub announced a frame of length " + length + ", outside 1.." + MaxFrame);
                    if (have >= 4 + length)
                    {
                        var frame = Codec.Decode(buf[start + 4], buf, start + 5, (int)length - 1);
                        start += 4 + (int)length;
                        if (start == end) start = end = 0;
                        if (frame == null) continue;
                        return frame;
                    }
                    if (4 + length > buf.Length - start)
                    {
                        // Make room for the whole frame.
                        var bigger = 4 + length > buf.Length ? new byte[Math.Max(4 + length, (uint)buf.Length * 2)] : buf;
                        Buffer.BlockCopy(buf, start, bigger, 0, have);
                        buf = bigger;
                        start = 0;
                        end = have;
                    }
                }
                else if (start > 0 && buf.Length - end < 4)
                {
                    Buffer.BlockCopy(buf, start, buf, 0, have);
                    start = 0;
                    end = have;
                }
                int n = await stream.ReadAsync(buf, end, buf.Length - end).ConfigureAwait(false);
                if (n == 0)
                {
                    if (end > start) throw new EndOfStreamException("the connection ended inside a frame");
                    return null;
                }
                end += n;
                Interlocked.Exchange(ref lastHeard, Stopwatch.GetTimestamp());
            }
        }
    }
}
