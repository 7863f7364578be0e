//! One request, from connection to record: connect if needed, send, read the
//! response under the request timeout, the abort signal and (when picked) a
//! deliberate cancellation, then file the record and the generated text.

use super::exchange::{read_response, send_request, Outcome};
use super::state::{CancelReason, Conn, Local, Shared};
use super::stream::{self, ConnectError, Stream};
use crate::record::{ErrorKind, Finished, RawResponse, RequestError, RequestRecord};
use crate::sys::clock::{now_ns, Nanos};
use monoio::time::Instant;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Consecutive connect failures, with no connection ever made, after which
/// the run stops: the target is down, not overloaded.
const DEAD_SERVER_FAILURES: u32 = 20;

/// Whose time a connection opened for a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NewConn {
    /// The slot's first connection: opened before its clock starts, not part
    /// of the request's latency.
    First,
    /// A connection lost mid-run is re-opened: part of this request's
    /// latency (`RequestRecord::connect_ns`).
    Reconnect,
}

/// What to send, and how it came to be sent.
#[derive(Clone, Copy, Debug)]
pub(super) struct RequestSpec {
    pub id: u64,
    /// The server it goes to (`Shared::server_for`); `conn`, when given,
    /// is a connection to that server.
    pub server: u16,
    /// Open loop: the intended send time.
    pub intended: Option<Nanos>,
    /// Open loop: the arrival waited in the queue for a free connection.
    pub waited_for_connection: bool,
    /// Open loop: when it was queued for a free connection.
    pub queued: Option<Nanos>,
    /// Used when `conn` is `None` or closed by the peer.
    pub new_conn: NewConn,
}

/// How the exchange ended, seen from the request.
enum Ended {
    Done(Outcome),
    Timeout,
    Cancelled(CancelReason),
}

/// Sends one request on `conn` (connecting first if needed), records it and
/// returns the connection if it can be reused.
pub(super) async fn one_request(
    local: &Rc<Local>,
    conn: Option<Conn>,
    spec: RequestSpec,
) -> Option<Conn> {
    let (warmup, cancel_rate, cancel_delay) = {
        let p = local.phase.plan.borrow();
        (p.warmup, p.cancel_rate, p.cancel_delay)
    };
    let (dataset_index, request) = local.shared.requests.pick(spec.id, spec.server);
    let mut rec = RequestRecord {
        request_id: spec.id,
        dataset_index: dataset_index as u32,
        worker: local.worker,
        server: spec.server,
        warmup,
        intended_start_ns: spec.intended,
        waited_for_connection: spec.waited_for_connection,
        queued_ns: spec.queued,
        ..Default::default()
    };
    let t0 = now_ns();
    rec.slot_ns = t0;
    let conn = conn.filter(|c| !c.stream.peer_closed());
    let reconnected = conn.is_none() && spec.new_conn == NewConn::Reconnect;
    let mut conn = match conn {
        Some(c) => c,
        None => open_for(local, spec.server, &mut rec, t0).await?,
    };
    if local.shared.records.wants_raw() {
        conn.st.raw = Some(RawResponse::default());
    }
    // The set-up time of a connection belongs to the first request it carries.
    rec.conn_setup_ns = (conn.carried == 0).then_some(conn.setup_ns);
    conn.carried = conn.carried.saturating_add(1);
    let deadline = Instant::now() + local.shared.request_timeout;
    let sent = send(local, &mut conn, request, &mut rec, deadline).await;
    if reconnected && rec.start_ns > t0 {
        // A connection re-opened mid-run is part of this request's latency;
        // the first connection of each slot is opened before its clock starts.
        rec.start_ns = t0;
    }
    let ended = match sent {
        Err(e) => e,
        Ok(()) => {
            let cancel_at = (!warmup && picked_for_cancel(local.shared.seed, spec.id, cancel_rate))
                .then(|| Instant::now() + cancel_delay);
            receive(local, &mut conn, &mut rec, deadline, cancel_at).await
        }
    };
    let keep = end_record(&mut rec, ended, local.shared.request_timeout);
    let text = std::mem::take(&mut conn.st.text);
    let raw = conn.st.raw.take().unwrap_or_default();
    finish(
        local,
        rec,
        &text,
        conn.st.reasoning_len,
        &conn.st.token_ns,
        raw,
    );
    conn.st.text = text;
    keep.then_some(conn)
}

/// Opens a connection for a request that has none. On failure the request is
/// recorded as failed (`None`), and a server that never accepted a
/// connection stops the run.
async fn open_for(local: &Local, server: u16, rec: &mut RequestRecord, t0: Nanos) -> Option<Conn> {
    let conns = &local.conns;
    let begin = now_ns();
    match connect(&local.shared, server).await {
        Ok(stream) => {
            set_failures(conns, server, 0);
            conns.connected_once.set(true);
            Some(Conn::new(
                server,
                stream,
                now_ns().saturating_sub(begin),
                &local.shared,
            ))
        }
        Err(error) => {
            rec.start_ns = t0;
            rec.end_ns = now_ns();
            let message = error.message.clone();
            rec.error = Some(error);
            finish(
                local,
                std::mem::take(rec),
                &[],
                0,
                &[],
                RawResponse::default(),
            );
            let fails = failures(conns, server) + 1;
            set_failures(conns, server, fails);
            let shared = &local.shared;
            if shared.servers.len() > 1 {
                // Several servers: one that keeps refusing is passed over
                // from now on; with all of them down the run stops.
                if fails >= super::servers::DOWN_AFTER_FAILURES {
                    if let Some(s) = shared.servers.get(server as usize) {
                        s.mark_down(now_ns(), &message);
                    }
                    if shared.servers.iter().all(|s| s.is_down()) {
                        shared.progress.stop.store(true, Ordering::Relaxed);
                    }
                }
            } else if !conns.connected_once.get() && fails >= DEAD_SERVER_FAILURES {
                // A server that never accepted a connection is not going to:
                // stop the run instead of failing every remaining request.
                shared.progress.stop.store(true, Ordering::Relaxed);
            }
            // Do not spin on a dead server.
            monoio::time::sleep(Duration::from_millis(10)).await;
            None
        }
    }
}

fn failures(conns: &super::state::Conns, server: u16) -> u32 {
    conns
        .connect_failures
        .borrow()
        .get(server as usize)
        .copied()
        .unwrap_or(0)
}

fn set_failures(conns: &super::state::Conns, server: u16, n: u32) {
    let mut f = conns.connect_failures.borrow_mut();
    if f.len() <= server as usize {
        f.resize(server as usize + 1, 0);
    }
    f[server as usize] = n;
}

/// Writes the request, racing the timeout and the abort signal.
async fn send(
    local: &Local,
    conn: &mut Conn,
    request: &'static [&'static [u8]],
    rec: &mut RequestRecord,
    deadline: Instant,
) -> Result<(), Ended> {
    let write = send_request(&mut conn.stream, &mut conn.st, request, rec);
    monoio::select! {
        r = monoio::time::timeout_at(deadline, write) => match r {
            Ok(Ok(first_byte_ns)) => {
                // 0: the first bytes went through the runtime (TLS): no lag taken.
                if first_byte_ns >= rec.send_ns {
                    local.out.record_send_lag(first_byte_ns - rec.send_ns);
                }
                Ok(())
            }
            Ok(Err(o)) => Err(Ended::Done(o)),
            Err(_) => Err(Ended::Timeout),
        },
        why = local.abort.wait() => Err(Ended::Cancelled(why)),
    }
}

/// Reads the response, racing the timeout (or the deliberate cancellation,
/// when it comes first) and the abort signal; counts bytes and events.
async fn receive(
    local: &Local,
    conn: &mut Conn,
    rec: &mut RequestRecord,
    deadline: Instant,
    cancel_at: Option<Instant>,
) -> Ended {
    let mut bytes = 0u64;
    let mut events = 0u64;
    let recv = read_response(&mut conn.stream, &mut conn.st, rec, &mut bytes, &mut events);
    let ended = match cancel_at {
        Some(at) if at < deadline => monoio::select! {
            o = recv => Ended::Done(o),
            _ = monoio::time::sleep_until(at) => Ended::Cancelled(CancelReason::CancellationRate),
            why = local.abort.wait() => Ended::Cancelled(why),
        },
        _ => monoio::select! {
            r = monoio::time::timeout_at(deadline, recv) => match r {
                Ok(o) => Ended::Done(o),
                Err(_) => Ended::Timeout,
            },
            why = local.abort.wait() => Ended::Cancelled(why),
        },
    };
    let out = &local.out;
    out.bytes_read.set(out.bytes_read.get() + bytes);
    out.events.set(out.events.get() + events);
    out.record_wake_lags(&conn.st.wake_lag_ns);
    ended
}

/// Completes the record of a request that did not end by itself (timeout,
/// cancellation); whether the connection can carry the next request.
fn end_record(rec: &mut RequestRecord, ended: Ended, timeout: Duration) -> bool {
    match ended {
        Ended::Done(Outcome::KeepAlive) => true,
        Ended::Done(Outcome::Close) => false,
        Ended::Timeout => {
            rec.end_ns = now_ns();
            rec.error = Some(RequestError {
                kind: ErrorKind::Timeout,
                code: rec.status,
                message: format!(
                    "no complete response within --request-timeout-seconds {}",
                    timeout.as_secs_f64()
                ),
            });
            false
        }
        Ended::Cancelled(why) => {
            rec.end_ns = now_ns();
            rec.cancelled = true;
            rec.error = Some(RequestError {
                kind: ErrorKind::Cancelled,
                code: rec.status,
                message: why.message().to_string(),
            });
            false
        }
    }
}

/// Whether this request is picked for deliberate cancellation: a hash of the
/// seed and id, so the choice is reproducible and needs no shared RNG.
fn picked_for_cancel(seed: u64, id: u64, rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    let mut x = seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    ((x >> 11) as f64 / (1u64 << 53) as f64) < rate
}

/// Hands the record over to the collector, with its generated text when a
/// tokenizer will count it and its token event times (one copy per request,
/// not per event).
fn finish(
    local: &Local,
    mut rec: RequestRecord,
    text: &[u8],
    reasoning_len: usize,
    token_ns: &[Nanos],
    raw: RawResponse,
) {
    rec.token_ns = token_ns.into();
    let queue = &local.shared.records;
    let text: Box<[u8]> = if queue.wants_text() {
        rec.output_text = 0..text.len();
        rec.reasoning_text = 0..reasoning_len.min(text.len());
        text.into()
    } else {
        Box::default()
    };
    let p = &local.shared.progress;
    if rec.is_error() {
        p.errors.fetch_add(1, Ordering::Relaxed);
    }
    p.completed.fetch_add(1, Ordering::Relaxed);
    local.out.requests.set(local.out.requests.get() + 1);
    queue.push(Finished {
        record: rec,
        text,
        raw,
    });
}

/// Opens a connection (TCP, then TLS for https), bounded by the request
/// timeout so a server that never answers the handshake cannot hang a slot.
pub(super) async fn connect(shared: &Shared, server: u16) -> Result<Stream, RequestError> {
    let Some(target) = shared.servers.get(server as usize) else {
        return Err(RequestError {
            kind: ErrorKind::Connect,
            code: None,
            message: format!("no server {server}"),
        });
    };
    let addr = target.addr;
    let fail = |kind, message| RequestError {
        kind,
        code: None,
        message,
    };
    match monoio::time::timeout(
        shared.request_timeout,
        stream::connect(addr, target.tls.as_ref(), shared.io_paths),
    )
    .await
    {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(ConnectError::Tcp(e))) => Err(fail(
            ErrorKind::Connect,
            format!("connect to {addr} failed: {e}"),
        )),
        Ok(Err(ConnectError::Tls(msg))) => Err(fail(ErrorKind::Tls, msg)),
        Err(_) => Err(fail(
            ErrorKind::Connect,
            format!(
                "connect to {addr} timed out after --request-timeout-seconds {}",
                shared.request_timeout.as_secs_f64()
            ),
        )),
    }
}
