//! Thread-per-core serving: one OS thread per worker, pinned to a core where
//! the cores can be listed, each with its own monoio runtime (io_uring, epoll
//! fallback) and its own SO_REUSEPORT listener on the shared port, accepting
//! its connections and serving each end to end on a task of its own.

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

use super::connection::serve_connection;
use super::worker::{Config, Worker};
use super::{MockServerArgs, Stats};
use crate::sys::rx_stamp;
use crate::sys::timer::PreciseTimer;

/// How often a worker checks the stop flag.
const STOP_POLL: Duration = Duration::from_millis(10);

/// Binds every worker's listener, starts the workers and returns once all listen.
pub(super) fn start(
    args: &MockServerArgs,
    tls: Option<Arc<rustls::ServerConfig>>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(SocketAddr, Vec<JoinHandle<()>>)> {
    let want = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve --host {:?}", args.host))?
        .next()
        .with_context(|| format!("--host {:?} resolves to no address", args.host))?;
    let n = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    // The first bind learns the real port when 0 was asked; the others share it.
    let first = bind_reuseport(want).with_context(|| format!("cannot listen on {want}"))?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..n {
        listeners.push(bind_reuseport(addr).with_context(|| format!("cannot listen on {addr}"))?);
    }
    let cfg = Arc::new(Config::new(args));
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut handles = Vec::with_capacity(n);
    for (index, listener) in listeners.into_iter().enumerate() {
        let core = if cores.is_empty() {
            None
        } else {
            Some(cores[index % cores.len()])
        };
        let (cfg, stats, stop_flag, ready, tls) = (
            cfg.clone(),
            stats.clone(),
            stop.clone(),
            ready_tx.clone(),
            tls.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("mock-worker-{index}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                let rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                    .enable_timer()
                    .build();
                match rt {
                    Ok(mut rt) => rt.block_on(worker_main(
                        index, listener, tls, cfg, stats, stop_flag, ready,
                    )),
                    Err(e) => {
                        let _ =
                            ready.send(Err(format!("worker {index}: cannot build runtime: {e}")));
                    }
                }
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e).context("cannot spawn a worker thread");
            }
        }
    }
    drop(ready_tx);
    for _ in 0..n {
        let outcome = ready_rx
            .recv()
            .unwrap_or_else(|_| Err("a worker exited before listening".into()));
        if let Err(e) = outcome {
            stop.store(true, Ordering::Relaxed);
            for h in handles {
                let _ = h.join();
            }
            anyhow::bail!("mock server failed to start: {e}");
        }
    }
    Ok((addr, handles))
}

/// One worker's listener on `addr`, sharing the port with the others.
fn bind_reuseport(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    // Accepted sockets inherit it, and the kernel switches receive stamping
    // on (a deferred switch) now rather than when the first request arrives.
    rx_stamp::enable_rx_timestamps(&socket);
    Ok(socket.into())
}

/// A worker thread's body: registers its listener, starts its timer, reports
/// on `ready`, then accepts connections until the stop flag is set.
async fn worker_main(
    index: usize,
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    cfg: Arc<Config>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let setup = (|| {
        let listener = monoio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("worker {index}: cannot register listener: {e}"))?;
        let timer = PreciseTimer::start()
            .map_err(|e| format!("worker {index}: cannot create timerfd: {e}"))?;
        Ok::<_, String>((listener, timer))
    })();
    let (listener, timer) = match setup {
        Ok(v) => v,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let worker = Rc::new(Worker::new(index, cfg, stats, timer));
    let _ = ready.send(Ok(()));
    drop(ready);

    let accept_loop = async {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    // Each event must leave as soon as it is written.
                    let _ = stream.set_nodelay(true);
                    let fd = stream.as_raw_fd();
                    match &tls {
                        None => {
                            monoio::spawn(serve_connection(worker.clone(), stream, fd));
                        }
                        Some(cfg) => {
                            let acceptor = monoio_rustls::TlsAcceptor::from(cfg.clone());
                            let worker = worker.clone();
                            // A failed handshake only ends that connection.
                            monoio::spawn(async move {
                                if let Ok(tls_stream) = acceptor.accept(stream).await {
                                    serve_connection(worker, tls_stream, fd).await;
                                }
                            });
                        }
                    }
                }
                // Typically EMFILE: back off instead of spinning on the error.
                Err(_) => monoio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    };
    let stop_watch = async {
        while !stop.load(Ordering::Relaxed) {
            monoio::time::sleep(STOP_POLL).await;
        }
    };
    monoio::select! {
        _ = accept_loop => {},
        _ = stop_watch => {},
    }
}
