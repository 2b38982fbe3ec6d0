//! Codec throughput: how fast frames are encoded and cut back out of a byte stream.
//!
//! The hub encodes every broadcast once (`broadcast_frame`) and every client decodes
//! every frame it receives, so these three numbers bound what one core can do on either
//! side of the fan-out, independent of sockets and scheduling:
//! - `broadcast_frame`: the hub's per-broadcast encoding cost;
//! - `encode`: `Frame::encode` into a reused buffer, the generic path (SEND, control
//!   frames);
//! - `decode`: `FrameCodec::decode` over a buffer of back-to-back `BROADCAST` frames, what
//!   a listener does for each frame it reads.
//!
//! Run with `cargo bench -p pipehub-protocol --bench codec`; each benchmark reports
//! frames per second (elements) and bytes per second for 64-byte and 1 KiB bodies.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pipehub_protocol::{Broadcast, ClientId, Frame, FrameCodec, Seq, broadcast_frame};
use tokio_util::codec::Decoder;

/// Body sizes measured: the load tool's default, and a larger message.
const SIZES: [usize; 2] = [64, 1024];

/// Frames per decode iteration: enough that one iteration is a realistic read buffer.
const FRAMES_PER_BUFFER: usize = 256;

fn broadcast(body: &Bytes) -> Frame {
    Frame::Broadcast(Broadcast {
        seq: Seq(42),
        sender: ClientId(7),
        timestamp_us: 1_700_000_000_000_000,
        body: body.clone(),
    })
}

fn bench_broadcast_frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("broadcast_frame");
    for size in SIZES {
        let body = vec![0x5a; size];
        let frame_len = broadcast_frame(Seq(1), ClientId(1), 0, &body).len();
        group.throughput(Throughput::Bytes(frame_len as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &body, |b, body| {
            let mut seq = 0u64;
            b.iter(|| {
                seq += 1;
                black_box(broadcast_frame(
                    Seq(seq),
                    ClientId(7),
                    1_700_000_000_000_000,
                    black_box(body),
                ))
            });
        });
    }
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for size in SIZES {
        let frame = broadcast(&Bytes::from(vec![0x5a; size]));
        group.throughput(Throughput::Bytes(frame.to_bytes().len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &frame, |b, frame| {
            let mut dst = BytesMut::with_capacity(64 * 1024);
            b.iter(|| {
                if dst.len() > 60 * 1024 {
                    dst.clear();
                }
                black_box(frame).encode(&mut dst);
            });
        });
    }
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for size in SIZES {
        let frame = broadcast(&Bytes::from(vec![0x5a; size]));
        let mut stream = BytesMut::new();
        for _ in 0..FRAMES_PER_BUFFER {
            frame.encode(&mut stream);
        }
        let stream = stream.freeze();
        group.throughput(Throughput::Elements(FRAMES_PER_BUFFER as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &stream, |b, stream| {
            let mut codec = FrameCodec::default();
            b.iter(|| {
                let mut buf = BytesMut::from(&stream[..]);
                let mut frames = 0;
                while let Ok(Some(frame)) = codec.decode(&mut buf) {
                    black_box(frame);
                    frames += 1;
                }
                assert_eq!(frames, FRAMES_PER_BUFFER);
            });
        });
    }
    group.finish();
}

criterion_group!(codec, bench_broadcast_frame, bench_encode, bench_decode);
criterion_main!(codec);
