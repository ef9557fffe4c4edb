//! Reading the io_uring family's events (`URING_EVENTS`, one [`UringEvent`] per send result
//! and per SEND_ZC notification) into one [`RequestRow`] per send request: a result that
//! promised a notification waits for the next notification of the same thread and
//! `user_data` (the kernel posts them in order), then the row goes to a [`RequestWriter`]
//! (uring.parquet) with its thread's role.
//!
//! The reader polls the ring every few milliseconds on its own thread (the programs do not
//! wake it: one wakeup per request would cost more than the request), and drains it after
//! the stop request.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use aya::maps::{MapData, RingBuf};
use netcopy_common::uring::{
    CQE_F_MORE, EVENT_NOTIF, NOTIF_USAGE_ZC_COPIED, OP_SEND, OP_SEND_ZC, OP_SENDMSG, OP_SENDMSG_ZC,
    UringEvent,
};

use super::records::{CollectError, WriterError};
use crate::{model::RequestRow, workload::watch::Roles};

/// How often the reader looks at the ring.
const POLL: Duration = Duration::from_millis(5);

/// Where each finished request row goes.
pub trait RequestWriter: Send {
    fn push(&mut self, row: &RequestRow) -> Result<(), WriterError>;
    fn close(self: Box<Self>) -> Result<(), WriterError>;
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        OP_SEND => "send",
        OP_SEND_ZC => "send_zc",
        OP_SENDMSG => "sendmsg",
        OP_SENDMSG_ZC => "sendmsg_zc",
        _ => "other",
    }
}

/// Pairs results with their notifications.
struct Pairing {
    roles: Roles,
    /// Results waiting for a notification, per (tid, user_data), oldest first.
    waiting: HashMap<(u32, u64), VecDeque<RequestRow>>,
    /// Rows finished per thread, and notifications no waiting result claimed.
    rows: BTreeMap<u32, u64>,
    orphan_notifs: u64,
    writer: Option<Box<dyn RequestWriter>>,
}

impl Pairing {
    fn finish_row(&mut self, row: RequestRow) -> Result<(), CollectError> {
        *self.rows.entry(row.tid).or_default() += 1;
        if let Some(w) = self.writer.as_mut() {
            w.push(&row).map_err(CollectError::Writer)?;
        }
        Ok(())
    }

    fn take(&mut self, e: &UringEvent) -> Result<(), CollectError> {
        let key = (e.tid, e.user_data);
        if e.kind == EVENT_NOTIF {
            let Some(mut row) = self.waiting.get_mut(&key).and_then(VecDeque::pop_front) else {
                self.orphan_notifs += 1;
                return Ok(());
            };
            row.notif_ns = Some(e.complete_ns);
            row.copied = Some(e.res as u32 & NOTIF_USAGE_ZC_COPIED != 0);
            return self.finish_row(row);
        }
        let row = RequestRow {
            tid: e.tid,
            role: self.roles.of(e.tid),
            opcode: opcode_name(e.opcode),
            user_data: e.user_data,
            submit_ns: e.submit_ns,
            complete_ns: e.complete_ns,
            res: e.res,
            more: e.cflags & CQE_F_MORE != 0,
            notif_ns: None,
            copied: None,
        };
        if row.more {
            self.waiting.entry(key).or_default().push_back(row);
            Ok(())
        } else {
            self.finish_row(row)
        }
    }

    fn drain(&mut self, rb: &mut RingBuf<MapData>) -> Result<(), CollectError> {
        while let Some(item) = rb.next() {
            if item.len() < std::mem::size_of::<UringEvent>() {
                continue;
            }
            // SAFETY: the length was checked; UringEvent is plain data valid for any bytes.
            let e: UringEvent = unsafe { std::ptr::read_unaligned(item.as_ptr().cast()) };
            drop(item);
            self.take(&e)?;
        }
        Ok(())
    }

    /// Rows still waiting for a notification go out without one.
    fn close(mut self) -> Result<RequestsRead, CollectError> {
        let waiting: Vec<RequestRow> = self.waiting.drain().flat_map(|(_, q)| q).collect();
        let mut unnotified = BTreeMap::new();
        for row in waiting {
            *unnotified.entry(row.tid).or_default() += 1;
            self.finish_row(row)?;
        }
        if let Some(w) = self.writer.take() {
            w.close().map_err(CollectError::Writer)?;
        }
        Ok(RequestsRead {
            rows: std::mem::take(&mut self.rows),
            unnotified,
            orphan_notifs: self.orphan_notifs,
        })
    }
}

/// What the reader made of the events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestsRead {
    /// Request rows per thread, one per send result seen.
    pub rows: BTreeMap<u32, u64>,
    /// Rows per thread whose promised notification never came before the end.
    pub unnotified: BTreeMap<u32, u64>,
    /// Notifications that matched no waiting result.
    pub orphan_notifs: u64,
}

/// The reader thread.
pub struct RequestReader {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<Result<RequestsRead, CollectError>>,
}

impl RequestReader {
    pub fn start(
        mut rb: RingBuf<MapData>,
        writer: Option<Box<dyn RequestWriter>>,
        roles: Roles,
    ) -> Result<Self, CollectError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = thread::Builder::new()
            .name("nc-uring".into())
            .spawn(move || {
                let mut pairing = Pairing {
                    roles,
                    waiting: HashMap::new(),
                    rows: BTreeMap::new(),
                    orphan_notifs: 0,
                    writer,
                };
                while !stopped.load(Ordering::Relaxed) {
                    pairing.drain(&mut rb)?;
                    thread::sleep(POLL);
                }
                pairing.drain(&mut rb)?;
                pairing.close()
            })?;
        Ok(Self { stop, handle })
    }

    /// Drain what is left (the programs are paused by now) and close the table.
    pub fn finish(self) -> Result<RequestsRead, CollectError> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().map_err(|_| CollectError::Panicked)?
    }
}

#[cfg(test)]
mod tests {
    use netcopy_common::uring::{EVENT_RESULT, UringEvent};

    use super::*;

    #[derive(Clone, Default)]
    struct Kept(Arc<std::sync::Mutex<Vec<RequestRow>>>);

    impl RequestWriter for Kept {
        fn push(&mut self, row: &RequestRow) -> Result<(), WriterError> {
            self.0.lock().map_err(|e| e.to_string())?.push(row.clone());
            Ok(())
        }
        fn close(self: Box<Self>) -> Result<(), WriterError> {
            Ok(())
        }
    }

    fn event(kind: u8, user_data: u64, res: i32, cflags: u32, at: u64) -> UringEvent {
        UringEvent {
            complete_ns: at,
            submit_ns: if kind == EVENT_RESULT { at - 5 } else { 0 },
            user_data,
            res,
            cflags,
            tid: 7,
            opcode: OP_SEND_ZC,
            kind,
            _pad: [0; 2],
        }
    }

    #[test]
    fn results_wait_for_their_notifications_in_order() {
        let kept = Kept::default();
        let mut p = Pairing {
            roles: Roles::default(),
            waiting: HashMap::new(),
            rows: BTreeMap::new(),
            orphan_notifs: 0,
            writer: Some(Box::new(kept.clone())),
        };
        let copied = NOTIF_USAGE_ZC_COPIED as i32;
        for e in [
            // Two sends from buffer 1 (a short one and its rest), one from buffer 2.
            event(EVENT_RESULT, 1, 100, CQE_F_MORE, 10),
            event(EVENT_RESULT, 1, 50, CQE_F_MORE, 20),
            event(EVENT_RESULT, 2, 150, CQE_F_MORE, 30),
            event(EVENT_NOTIF, 1, copied, 0, 40),
            // A failed send promises nothing and is a row at once.
            event(EVENT_RESULT, 3, -11, 0, 45),
            event(EVENT_NOTIF, 1, 0, 0, 50),
            // A notification nobody waits for.
            event(EVENT_NOTIF, 9, 0, 0, 55),
        ] {
            p.take(&e).unwrap();
        }
        let read = p.close().unwrap();
        assert_eq!(
            read,
            RequestsRead {
                rows: BTreeMap::from([(7, 4)]),
                unnotified: BTreeMap::from([(7, 1)]),
                orphan_notifs: 1
            }
        );
        let rows = kept.0.lock().unwrap();
        let find = |ud, res| {
            rows.iter()
                .find(|r| r.user_data == ud && r.res == res)
                .unwrap()
        };
        // The first notification of buffer 1 goes to its first send.
        assert_eq!(find(1, 100).notif_ns, Some(40));
        assert_eq!(find(1, 100).copied, Some(true));
        assert_eq!(find(1, 50).notif_ns, Some(50));
        assert_eq!(find(1, 50).copied, Some(false));
        assert_eq!((find(2, 150).notif_ns, find(2, 150).copied), (None, None));
        assert!(!find(3, -11).more);
        assert!(
            rows.iter()
                .all(|r| r.opcode == "send_zc" && r.submit_ns + 5 == r.complete_ns)
        );
    }
}
