//! How a worker issues its requests in a phase: closed loop (each connection
//! sends its next request as soon as the previous one ends) or open loop
//! (requests at scheduled arrival times, on whatever connection is free).

use super::request::{one_request, NewConn, RequestSpec};
use super::schedule::{Arrivals, ScheduleSpec};
use super::state::{Conn, Local, WATCH_PERIOD};
use crate::sys::clock::{now_ns, Nanos};
use crate::sys::timer::PreciseTimer;
use std::rc::Rc;
use std::time::Duration;

/// Open loop: the most arrivals one worker queues for a free connection
/// (24 bytes each).
const MAX_WAITING: usize = 1 << 20;

/// Claims the next closed-loop request, or None when the phase is over.
fn claim(local: &Local) -> Option<u64> {
    let phase = &local.phase;
    if phase.closed.get() || local.shared.stopping() {
        return None;
    }
    let j = phase.next.get();
    if phase.plan.borrow().count.is_some_and(|c| j >= c) {
        return None;
    }
    phase.next.set(j + 1);
    Some(j * local.lanes + local.lane)
}

/// Closed loop on one connection slot: requests back to back until the
/// phase's count or duration is used up. `conns` holds the slot's
/// connection to each server (index = server); a request uses the one to
/// its server.
pub(super) async fn closed_loop_connection(local: Rc<Local>, mut conns: Vec<Option<Conn>>) {
    let mut used = vec![false; conns.len()];
    while let Some(id) = claim(&local) {
        let server = local.shared.server_for(id);
        let s = server as usize;
        let spec = RequestSpec {
            id,
            server,
            intended: None,
            waited_for_connection: false,
            queued: None,
            new_conn: if used[s] {
                NewConn::Reconnect
            } else {
                NewConn::First
            },
        };
        conns[s] = one_request(&local, conns[s].take(), spec).await;
        used[s] = true;
    }
    local
        .conns
        .idle
        .borrow_mut()
        .extend(conns.into_iter().flatten());
}

/// Open loop: sleep until each arrival is due, then send it on an idle
/// connection, a new one (under the cap), or queue it for the next connection
/// to free up (counted as `waited_for_connection`, never dropped).
pub(super) async fn open_loop(
    local: &Rc<Local>,
    schedule: &ScheduleSpec,
    precise: Option<PreciseTimer>,
) {
    let start = local.phase.start.get();
    let cap = local.phase.plan.borrow().connections.max(1);
    let conns = &local.conns;
    // Arrival k of the run goes to the worker (and shard) of lane k % lanes.
    let mine = Arrivals::new(schedule)
        .skip(local.lane as usize)
        .step_by(local.lanes as usize);
    for (j, offset) in mine.enumerate() {
        let intended = start.saturating_add(offset);
        // Sleep to the arrival in slices of at most WATCH_PERIOD, so that
        // an interrupt during a long gap (a low rate) is noticed at once.
        loop {
            let now = now_ns();
            if intended <= now || local.shared.stopping() {
                break;
            }
            let wake = intended.min(now + WATCH_PERIOD.as_nanos() as Nanos);
            match &precise {
                Some(t) => t.sleep_until(wake).await,
                None => monoio::time::sleep(Duration::from_nanos(wake - now)).await,
            }
        }
        // The schedule already ends at --benchmark-duration (an arrival due
        // exactly then is still sent); only an interrupt stops it early.
        if local.shared.stopping() {
            break;
        }
        let id = j as u64 * local.lanes + local.lane;
        if conns.in_flight.get() < cap {
            conns.in_flight.set(conns.in_flight.get() + 1);
            let conn = conns.take_idle(local.shared.server_for(id));
            // Detached: the task gives its slot back (`in_flight`) when done,
            // so nothing is kept per arrival.
            drop(monoio::spawn(open_loop_task(
                local.clone(),
                conn,
                id,
                intended,
            )));
        } else {
            // An overloaded server makes arrivals queue up; past
            // MAX_WAITING the schedule waits for room instead of growing the
            // queue. Nothing is lost: each arrival keeps its intended time,
            // so the wait shows in its schedule lag as it would anyway.
            while conns.waiting.borrow().len() >= MAX_WAITING && !local.shared.stopping() {
                monoio::time::sleep(Duration::from_millis(1)).await;
            }
            conns
                .waiting
                .borrow_mut()
                .push_back((id, intended, now_ns()));
        }
    }
    // The phase ends when its last request has (checked every millisecond:
    // this only decides when the worker moves on, not any measurement).
    while conns.in_flight.get() > 0 {
        match &precise {
            Some(t) => t.sleep_until(now_ns() + 1_000_000).await,
            None => monoio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

/// One open-loop connection slot: its arrival, then queued arrivals while
/// there are any.
async fn open_loop_task(local: Rc<Local>, conn: Option<Conn>, id: u64, intended: Nanos) {
    // A pooled (idle) connection or a new one for a new slot: no reconnect.
    // (`server_for` is asked again: a server may have gone down meanwhile,
    // and then `conn` is to another server.)
    let server = conn
        .as_ref()
        .map_or_else(|| local.shared.server_for(id), |c| c.server);
    let first = RequestSpec {
        id,
        server,
        intended: Some(intended),
        waited_for_connection: false,
        queued: None,
        new_conn: NewConn::First,
    };
    let mut conn = one_request(&local, conn, first).await;
    while !local.shared.stopping() {
        let next = local.conns.waiting.borrow_mut().pop_front();
        match next {
            Some((id, intended, queued)) => {
                let server = local.shared.server_for(id);
                if conn.as_ref().is_some_and(|c| c.server != server) {
                    // Keep the connection to the other server for later.
                    local.conns.idle.borrow_mut().extend(conn.take());
                }
                if conn.is_none() {
                    conn = local.conns.take_idle(server);
                }
                let spec = RequestSpec {
                    id,
                    server,
                    intended: Some(intended),
                    waited_for_connection: true,
                    queued: Some(queued),
                    new_conn: if conn.is_none() {
                        NewConn::First
                    } else {
                        NewConn::Reconnect
                    },
                };
                conn = one_request(&local, conn, spec).await;
            }
            None => break,
        }
    }
    if let Some(c) = conn {
        local.conns.idle.borrow_mut().push(c);
    }
    local.conns.in_flight.set(local.conns.in_flight.get() - 1);
}
