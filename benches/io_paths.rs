//! The client's I/O paths side by side, on loopback: a response read with
//! the kernel's stamp (io_uring readiness, then `recvmsg`) against an
//! io_uring read stamped on completion (`--rx-stamps kernel|user`), and one
//! 216 kB request sent copying, zero-copy, or zero-copy until the kernel says
//! it copies anyway (`--zero-copy off|on|auto`). Criterion prints time per
//! read (200 bytes already waiting, so the wake-up is not measured) and per
//! request (a thread on the other end drains the socket).

use audioperf::config::{RxStamps, ZeroCopy};
use audioperf::engine::stream::{connect, IoPaths, Stream, TimedRead};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

const READ_BYTES: usize = 200;

/// A connection to `listener` opened on the current runtime (`block_on`),
/// and the accepted server side.
fn accept(
    listener: &TcpListener,
    stream: std::io::Result<Stream>,
) -> (Stream, std::net::TcpStream) {
    let stream = stream.expect("connect to 127.0.0.1");
    let (server, _) = listener.accept().expect("accept");
    (stream, server)
}

async fn open(addr: SocketAddr, paths: IoPaths) -> std::io::Result<Stream> {
    connect(addr, None, paths)
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
}

fn reads(c: &mut Criterion) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    audioperf::sys::rx_stamp::enable_rx_timestamps(&listener);
    let addr = listener.local_addr().expect("addr");
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("read_waiting_200B");
    g.throughput(Throughput::Bytes(READ_BYTES as u64));
    for (name, rx_stamps) in [
        ("kernel_stamp", RxStamps::Kernel),
        ("io_uring_read", RxStamps::User),
    ] {
        let paths = IoPaths {
            zero_copy: ZeroCopy::Off,
            rx_stamps,
            read_batch_ns: 0,
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (mut stream, mut server) = accept(&listener, rt.block_on(open(addr, paths)));
                let total = iters as usize * READ_BYTES;
                let writer = std::thread::spawn(move || {
                    server.write_all(&vec![b'x'; total]).expect("write");
                    server
                });
                // Let the first bytes arrive before the clock starts.
                std::thread::sleep(Duration::from_millis(5));
                let elapsed = rt.block_on(async {
                    let mut buf = Vec::with_capacity(READ_BYTES);
                    let mut got = 0;
                    let start = Instant::now();
                    while got < total {
                        buf.clear();
                        let (n, _) = stream.read_timed(&mut buf).await.expect("read");
                        assert!(n > 0, "peer closed early");
                        got += n;
                    }
                    start.elapsed()
                });
                drop(writer.join());
                elapsed
            })
        });
    }
    g.finish();
}

fn sends(c: &mut Criterion) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime");
    let head: &'static [u8] =
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 216000\r\n\r\n";
    let body: &'static [u8] = vec![b'A'; 216_000].leak();
    let mut g = c.benchmark_group("send_216kB_request");
    g.throughput(Throughput::Bytes((head.len() + body.len()) as u64));
    for (name, zero_copy) in [
        ("copy", ZeroCopy::Off),
        ("zero_copy_on", ZeroCopy::On),
        ("zero_copy_auto", ZeroCopy::Auto),
    ] {
        let paths = IoPaths {
            zero_copy,
            rx_stamps: RxStamps::Kernel,
            read_batch_ns: 0,
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (mut stream, mut server) = accept(&listener, rt.block_on(open(addr, paths)));
                let drain = std::thread::spawn(move || {
                    let mut sink = vec![0u8; 1 << 20];
                    while matches!(server.read(&mut sink), Ok(n) if n > 0) {}
                });
                let elapsed = rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        stream.write_segments(&[head, body]).await.expect("send");
                    }
                    start.elapsed()
                });
                drop(stream);
                drop(drain.join());
                elapsed
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = reads, sends
}
criterion_main!(benches);
