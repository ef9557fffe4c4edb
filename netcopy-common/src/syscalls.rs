//! The syscall family's contract: which socket syscalls are traced and the record each call
//! becomes (how records travel is [`crate::batch`]).
//!
//! Hooks (see `netcopy-ebpf/src/syscalls/`): `raw_syscalls:sys_enter`/`sys_exit` as raw
//! tracepoints, which decode the syscall number and arguments with the x86-64 layout in
//! [`raw`]; elsewhere, or where raw_tp is refused, the classic
//! `syscalls:sys_{enter,exit}_{sendto,sendmsg,recvfrom,recvmsg,write,read,writev,readv,io_uring_enter}`
//! tracepoints. Numbers: one [`SyscallRecord`] per call, and exact per-thread counts in
//! `THREADS` ([`crate::call::ExactCounts`]).

use crate::{exact::EXACT_FNS, layout};

/// The socket syscalls traced. write/read/writev/readv also work on files and pipes; they
/// are recorded only when they did socket work (see [`SyscallKind::socket_only_if_seen`]).
/// `io_uring_enter` is where a ring's requests are submitted and waited for: the sends it
/// issues inline run inside it.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyscallKind {
    Sendto = 0,
    Sendmsg = 1,
    Recvfrom = 2,
    Recvmsg = 3,
    Write = 4,
    Read = 5,
    Writev = 6,
    Readv = 7,
    IoUringEnter = 8,
}

/// Number of [`SyscallKind`]s.
pub const KINDS: usize = 9;

impl SyscallKind {
    pub const ALL: [SyscallKind; KINDS] = [
        SyscallKind::Sendto,
        SyscallKind::Sendmsg,
        SyscallKind::Recvfrom,
        SyscallKind::Recvmsg,
        SyscallKind::Write,
        SyscallKind::Read,
        SyscallKind::Writev,
        SyscallKind::Readv,
        SyscallKind::IoUringEnter,
    ];

    /// write/read/writev/readv are kept only when, inside the call, the thread filled an
    /// skb (tcp_sendmsg_locked) or copied skb data to user space: the fd was a TCP socket
    /// that moved data. Failed or empty socket reads through read(2) are not seen.
    pub fn socket_only_if_seen(self) -> bool {
        matches!(
            self,
            SyscallKind::Write | SyscallKind::Read | SyscallKind::Writev | SyscallKind::Readv
        )
    }

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u8 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            SyscallKind::Sendto => "sendto",
            SyscallKind::Sendmsg => "sendmsg",
            SyscallKind::Recvfrom => "recvfrom",
            SyscallKind::Recvmsg => "recvmsg",
            SyscallKind::Write => "write",
            SyscallKind::Read => "read",
            SyscallKind::Writev => "writev",
            SyscallKind::Readv => "readv",
            SyscallKind::IoUringEnter => "io_uring_enter",
        }
    }
}

/// `MSG_ERRQUEUE` in a call's flags: a zerocopy completion read.
pub const MSG_ERRQUEUE: u32 = 0x2000;
/// `MSG_ZEROCOPY` in a call's flags.
pub const MSG_ZEROCOPY: u32 = 0x400_0000;

/// One traced call, emitted at its exit. Its first [`HEAD_BYTES`] are what every call
/// has; the rest, its tail (counters, off-CPU reasons, exact-tier times, io_uring bytes), is
/// all zeros for most calls and goes to user space only for calls that [`Self::has_tail`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallRecord {
    /// `bpf_ktime_get_ns()` at entry (CLOCK_MONOTONIC).
    pub start_ns: u64,
    /// Exit minus entry.
    pub wall_ns: u64,
    /// Time the thread was switched out during the call.
    pub offcpu_ns: u64,
    /// The syscall's return value: bytes (io_uring_enter: requests submitted), or a
    /// negative errno.
    pub ret: i64,
    /// Bytes skb_copy_datagram_iovec copied to user space inside the call.
    pub bytes_to_user: u64,
    pub tgid: u32,
    pub tid: u32,
    pub fd: i32,
    pub flags: u32,
    /// Switches out of the call while the thread slept (prev_state != running).
    pub voluntary_cs: u32,
    /// Switches out while the thread was still runnable (preempted).
    pub involuntary_cs: u32,
    /// `tcp:tcp_sendmsg_locked` events inside the call (skbs the send loop filled).
    pub skbs_built: u32,
    /// `net:net_dev_xmit` events inside the call.
    pub skbs_tx: u32,
    /// `net:netif_receive_skb` events inside the call (loopback: the receive softirq runs in
    /// the sender's call).
    pub skbs_rx: u32,
    /// CPU the call exited on.
    pub cpu: u32,
    pub kind: u8,
    /// 1 when `cycles` and `instructions` were read at every on-CPU stretch of the call.
    pub counters: u8,
    /// 1 when the exact tier timed this call (`exact_ns` is valid).
    pub exact: u8,
    /// 1 when the bracket programs were attached (the three bracket times are valid).
    pub brackets: u8,
    /// Exact bracketed times on the call's CPU while it ran, each ns in one of them (see
    /// [`crate::call::NetCounts`]): NET_RX softirqs, NET_TX softirqs, device transmits.
    pub rx_softirq_ns: u32,
    pub tx_softirq_ns: u32,
    pub dev_xmit_ns: u32,
    // The tail: zero unless `has_tail`.
    /// Hardware cycles the thread ran inside the call (valid when `counters` is 1).
    pub cycles: u64,
    /// Instructions retired inside the call (valid when `counters` is 1).
    pub instructions: u64,
    /// Off-CPU ns per kept reason (`crate::offcpu::Reason`: wmem, data, lock, preempt);
    /// the rest of `offcpu_ns` is `other`.
    pub offcpu_reason_ns: [u64; crate::offcpu::KEPT],
    /// ns inside each of [`crate::exact::TIMED`] during the call.
    pub exact_ns: [u32; EXACT_FNS],
    /// io_uring_enter: bytes its send requests that completed inside it reported sent (its
    /// `ret` is the number of requests it submitted). 0 for the other kinds.
    pub uring_bytes: u32,
}
layout!(
    SyscallRecord,
    168,
    ret @ 24,
    tgid @ 40,
    tid @ 44,
    cpu @ 76,
    kind @ 80,
    brackets @ 83,
    rx_softirq_ns @ 84,
    dev_xmit_ns @ 92,
    cycles @ HEAD_BYTES,
    offcpu_reason_ns @ 112,
    exact_ns @ 144,
    uring_bytes @ 164,
);

/// Bytes of a record's head: what goes to user space for every call.
pub const HEAD_BYTES: usize = 96;
/// Bytes of a whole record, head and tail.
pub const RECORD_BYTES: usize = core::mem::size_of::<SyscallRecord>();

impl SyscallRecord {
    /// Whether the record's tail can hold anything but zeros: the call was timed by
    /// counters or the exact tier, left the CPU (the off-CPU reasons), or is an
    /// io_uring_enter (its bytes). Read from the head only, so that a reader knows from a
    /// head whether a tail follows it.
    #[inline(always)]
    pub fn has_tail(&self) -> bool {
        self.counters == 1
            || self.exact == 1
            || self.offcpu_ns != 0
            || self.kind == SyscallKind::IoUringEnter as u8
    }

    /// Bytes the record takes in a batch: its head, and its tail if it has one.
    #[inline(always)]
    pub fn wire_bytes(&self) -> usize {
        if self.has_tail() {
            RECORD_BYTES
        } else {
            HEAD_BYTES
        }
    }

    /// Overwrite `self` with the record at the front of `bytes` (a head, then its tail if it
    /// has one; a record without a tail has zeros there), and say how many bytes it took.
    /// `tail_written` says whether `self`'s tail may hold anything but zeros, and is kept up
    /// to date: a head alone clears the tail only where it does. `None` (and `self`
    /// unspecified) when `bytes` is too short for the record.
    #[inline(always)]
    pub fn read_wire(&mut self, bytes: &[u8], tail_written: &mut bool) -> Option<usize> {
        const TAIL_BYTES: usize = RECORD_BYTES - HEAD_BYTES;
        let head: &[u8; HEAD_BYTES] = bytes.get(..HEAD_BYTES)?.try_into().ok()?;
        let to = core::ptr::from_mut(self).cast::<u8>();
        // SAFETY (all three writes): SyscallRecord is plain integers, valid for any bytes,
        // RECORD_BYTES long; each write stays inside it. Copies of constant length compile
        // to a few vector moves, where slices of a computed length called memmove.
        unsafe { core::ptr::copy_nonoverlapping(head.as_ptr(), to, HEAD_BYTES) };
        if self.has_tail() {
            let tail: &[u8; TAIL_BYTES] = bytes.get(HEAD_BYTES..RECORD_BYTES)?.try_into().ok()?;
            unsafe {
                core::ptr::copy_nonoverlapping(tail.as_ptr(), to.add(HEAD_BYTES), TAIL_BYTES)
            };
            *tail_written = true;
            Some(RECORD_BYTES)
        } else {
            if *tail_written {
                unsafe { core::ptr::write_bytes(to.add(HEAD_BYTES), 0, TAIL_BYTES) };
                *tail_written = false;
            }
            Some(HEAD_BYTES)
        }
    }
}

/// What the raw tracepoints on `raw_syscalls:sys_enter`/`sys_exit` need to know: the
/// syscall numbers and `struct pt_regs` offsets of one architecture. User space attaches
/// them only on [`raw::ARCH`]; elsewhere the classic per-syscall tracepoints are used and the
/// fallback is said.
pub mod raw {
    use super::SyscallKind;

    /// The architecture these numbers and offsets are for (`std::env::consts::ARCH`).
    pub const ARCH: &str = "x86_64";

    pub const NR_READ: u64 = 0;
    pub const NR_WRITE: u64 = 1;
    pub const NR_READV: u64 = 19;
    pub const NR_WRITEV: u64 = 20;
    pub const NR_SENDTO: u64 = 44;
    pub const NR_RECVFROM: u64 = 45;
    pub const NR_SENDMSG: u64 = 46;
    pub const NR_RECVMSG: u64 = 47;
    pub const NR_IO_URING_ENTER: u64 = 426;

    /// Every traced syscall's number.
    pub const NUMBERS: [(u64, SyscallKind); super::KINDS] = [
        (NR_SENDTO, SyscallKind::Sendto),
        (NR_SENDMSG, SyscallKind::Sendmsg),
        (NR_RECVFROM, SyscallKind::Recvfrom),
        (NR_RECVMSG, SyscallKind::Recvmsg),
        (NR_WRITE, SyscallKind::Write),
        (NR_READ, SyscallKind::Read),
        (NR_WRITEV, SyscallKind::Writev),
        (NR_READV, SyscallKind::Readv),
        (NR_IO_URING_ENTER, SyscallKind::IoUringEnter),
    ];

    /// The traced syscall with number `nr` (a `match`, which the verifier takes in one go).
    #[inline(always)]
    pub const fn kind_of(nr: u64) -> Option<SyscallKind> {
        Some(match nr {
            NR_READ => SyscallKind::Read,
            NR_WRITE => SyscallKind::Write,
            NR_READV => SyscallKind::Readv,
            NR_WRITEV => SyscallKind::Writev,
            NR_SENDTO => SyscallKind::Sendto,
            NR_RECVFROM => SyscallKind::Recvfrom,
            NR_SENDMSG => SyscallKind::Sendmsg,
            NR_RECVMSG => SyscallKind::Recvmsg,
            NR_IO_URING_ENTER => SyscallKind::IoUringEnter,
            _ => return None,
        })
    }

    /// Offsets in `struct pt_regs`: the 1st argument (fd), the 3rd (sendmsg/recvmsg flags),
    /// the 4th (sendto/recvfrom/io_uring_enter flags) and the syscall number.
    pub const REG_DI: usize = 112;
    pub const REG_DX: usize = 96;
    pub const REG_R10: usize = 56;
    pub const REG_ORIG_AX: usize = 120;

    const _: () = {
        let mut i = 0;
        while i < NUMBERS.len() {
            let (nr, kind) = NUMBERS[i];
            assert!(matches!(kind_of(nr), Some(k) if k as u8 == kind as u8));
            i += 1;
        }
    };
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: `repr(C)` plain integers with explicit padding, valid for any bytes.
    unsafe impl aya::Pod for super::SyscallRecord {}
}
