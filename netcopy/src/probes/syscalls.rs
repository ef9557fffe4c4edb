//! Syscall, sched and net families, user side: attach the programs, pick targets, and read
//! the exact per-thread totals and the lost-record count.
//!
//! Hooks: see `netcopy-ebpf/src/{syscalls,sched,net}.rs`. All classic tracepoints, which
//! work on every kernel netcopy supports; the BTF and fentry upgrades come with the attach
//! plan.

use aya::{
    maps::{Array, HashMap, MapData, PerCpuArray, RingBuf},
    programs::{RawTracePoint, TracePoint},
};
use netcopy_common::syscalls::{
    AGGREGATES_MAP, AggKey, Aggregate, COMM_LEN, CONFIG_AGGREGATE, CONFIG_BY_CGROUP,
    CONFIG_BY_COMM, CONFIG_MAP, CONFIG_PAUSED, CallCounts, LOST_MAP, RECORDS_MAP, STAGING_MAP,
    StagedRecords, SyscallRecord, TARGET_CGROUPS_MAP, TARGET_COMMS_MAP, TARGET_PRESENT,
    TARGET_TGIDS_MAP, THREADS_MAP, ThreadEntry,
};

use super::{ProbeError, Probes, plan::Tried, root_cause};

/// (program name, tracepoint category, tracepoint name).
const PROGRAMS: [(&str, &str, &str); 20] = [
    ("sys_enter_sendto", "syscalls", "sys_enter_sendto"),
    ("sys_exit_sendto", "syscalls", "sys_exit_sendto"),
    ("sys_enter_sendmsg", "syscalls", "sys_enter_sendmsg"),
    ("sys_exit_sendmsg", "syscalls", "sys_exit_sendmsg"),
    ("sys_enter_recvfrom", "syscalls", "sys_enter_recvfrom"),
    ("sys_exit_recvfrom", "syscalls", "sys_exit_recvfrom"),
    ("sys_enter_recvmsg", "syscalls", "sys_enter_recvmsg"),
    ("sys_exit_recvmsg", "syscalls", "sys_exit_recvmsg"),
    ("sys_enter_write", "syscalls", "sys_enter_write"),
    ("sys_exit_write", "syscalls", "sys_exit_write"),
    ("sys_enter_read", "syscalls", "sys_enter_read"),
    ("sys_exit_read", "syscalls", "sys_exit_read"),
    ("sys_enter_writev", "syscalls", "sys_enter_writev"),
    ("sys_exit_writev", "syscalls", "sys_exit_writev"),
    ("sys_enter_readv", "syscalls", "sys_enter_readv"),
    ("sys_exit_readv", "syscalls", "sys_exit_readv"),
    ("tcp_sendmsg_locked", "tcp", "tcp_sendmsg_locked"),
    ("skb_copy_datagram_iovec", "skb", "skb_copy_datagram_iovec"),
    ("net_dev_xmit", "net", "net_dev_xmit"),
    ("netif_receive_skb", "net", "netif_receive_skb"),
];

/// The classic per-syscall programs that [`Probes::attach_syscalls`] replaces with the two
/// raw_tp ones when it can (the first 16 of [`PROGRAMS`]).
const SYSCALL_PROGRAMS: usize = 16;

impl Probes {
    /// Load and attach every program of these families. Syscall entry and exit use the two
    /// raw_tp programs on raw_syscalls:sys_enter/sys_exit where they load and attach
    /// (`NETCOPY_HIDE=rawtp` hides them), else the 16 classic tracepoints. Returns what
    /// happened with raw_tp, for the attach plan.
    pub fn attach_syscalls(&mut self) -> Result<Tried, ProbeError> {
        self.mounted_tracefs |= super::ensure_tracefs()?;
        let raw = self.try_raw_syscalls_loaded();
        let classic = if raw.is_ok() {
            &PROGRAMS[SYSCALL_PROGRAMS..]
        } else {
            &PROGRAMS[..]
        };
        for &(name, category, event) in classic {
            let program: &mut TracePoint = self.program(name)?;
            program
                .load()
                .map_err(|source| ProbeError::Program { name, source })?;
            program
                .attach(category, event)
                .map_err(|source| ProbeError::Program { name, source })?;
        }
        Ok(raw)
    }

    /// For `doctor`: whether the raw_tp syscall programs load and attach here (they are
    /// attached for a moment, then detached with the object).
    pub fn try_raw_syscalls_loaded(&mut self) -> Tried {
        if super::plan::Features::detect().is_hidden("rawtp") {
            return Err("hidden by NETCOPY_HIDE".to_owned());
        }
        self.try_raw_syscalls()
    }

    /// Load and attach the raw_tp syscall programs; on any failure unload them again.
    fn try_raw_syscalls(&mut self) -> Tried {
        let mut done = Vec::new();
        for (name, tp) in [("raw_sys_enter", "sys_enter"), ("raw_sys_exit", "sys_exit")] {
            let attached = self
                .program::<RawTracePoint>(name)
                .map_err(|e| e.to_string())
                .and_then(|p| {
                    p.load()
                        .map_err(|e| format!("refused by the kernel ({})", root_cause(&e)))?;
                    done.push(name);
                    p.attach(tp)
                        .map(|_| ())
                        .map_err(|e| format!("refused by the kernel ({})", root_cause(&e)))
                });
            if let Err(e) = attached {
                for name in done {
                    if let Ok(p) = self.program::<RawTracePoint>(name) {
                        let _ = p.unload();
                    }
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Trace the threads of process `tgid` from now on.
    pub fn add_target(&mut self, tgid: u32) -> Result<(), ProbeError> {
        self.mark(TARGET_TGIDS_MAP, tgid)
    }

    /// Trace every thread whose command name is `comm` (the kernel keeps 15 bytes of it).
    pub fn add_comm(&mut self, comm: &str) -> Result<(), ProbeError> {
        let mut key = [0u8; COMM_LEN];
        let bytes = comm.as_bytes();
        let n = bytes.len().min(COMM_LEN - 1);
        key[..n].copy_from_slice(&bytes[..n]);
        self.mark(TARGET_COMMS_MAP, key)?;
        self.update_config(|word| word | CONFIG_BY_COMM)
    }

    /// Trace every thread in the cgroup (v2) whose directory has inode `id`.
    pub fn add_cgroup(&mut self, id: u64) -> Result<(), ProbeError> {
        self.mark(TARGET_CGROUPS_MAP, id)?;
        self.update_config(|word| word | CONFIG_BY_CGROUP)
    }

    fn mark<K: aya::Pod>(&mut self, name: &'static str, key: K) -> Result<(), ProbeError> {
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or(ProbeError::Missing { kind: "map", name })?;
        let mut targets: HashMap<&mut MapData, K, u8> =
            HashMap::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        targets
            .insert(key, TARGET_PRESENT, 0)
            .map_err(|source| ProbeError::Map { name, source })
    }

    /// The exact calls thread `tid` completed, per kind (zero if it made none).
    pub fn call_counts(&self, tid: u32) -> Result<CallCounts, ProbeError> {
        let name = THREADS_MAP;
        let map = self
            .ebpf
            .map(name)
            .ok_or(ProbeError::Missing { kind: "map", name })?;
        let threads: HashMap<&MapData, u32, ThreadEntry> =
            HashMap::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        match threads.get(&tid, 0) {
            Ok(entry) => Ok(entry.counts),
            Err(aya::maps::MapError::KeyNotFound) => Ok(CallCounts::default()),
            Err(source) => Err(ProbeError::Map { name, source }),
        }
    }

    /// `--aggregate`: fold calls into per-thread totals in the kernel instead of records.
    pub fn set_aggregate(&mut self, on: bool) -> Result<(), ProbeError> {
        self.update_config(|word| {
            if on {
                word | CONFIG_AGGREGATE
            } else {
                word & !CONFIG_AGGREGATE
            }
        })
    }

    pub(crate) fn update_config(&mut self, f: impl FnOnce(u32) -> u32) -> Result<(), ProbeError> {
        let name = CONFIG_MAP;
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or(ProbeError::Missing { kind: "map", name })?;
        let mut config: Array<&mut MapData, u32> =
            Array::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        let word = config
            .get(&0, 0)
            .map_err(|source| ProbeError::Map { name, source })?;
        config
            .set(0, f(word), 0)
            .map_err(|source| ProbeError::Map { name, source })
    }

    /// The in-kernel totals of `--aggregate`, per thread and kind.
    pub fn aggregates(&self) -> Result<Vec<(AggKey, Aggregate)>, ProbeError> {
        let name = AGGREGATES_MAP;
        let map = self
            .ebpf
            .map(name)
            .ok_or(ProbeError::Missing { kind: "map", name })?;
        let aggs: HashMap<&MapData, AggKey, Aggregate> =
            HashMap::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        aggs.iter()
            .map(|kv| kv.map_err(|source| ProbeError::Map { name, source }))
            .collect()
    }

    /// Records the ring buffer had no room for, summed over CPUs.
    pub fn lost(&self) -> Result<u64, ProbeError> {
        Ok(self.per_cpu_slot::<u64>(LOST_MAP)?.iter().sum())
    }

    /// Every CPU's value of the one slot of per-CPU array `name`.
    fn per_cpu_slot<V: aya::Pod>(
        &self,
        name: &'static str,
    ) -> Result<aya::maps::PerCpuValues<V>, ProbeError> {
        let map = self
            .ebpf
            .map(name)
            .ok_or(ProbeError::Missing { kind: "map", name })?;
        let array: PerCpuArray<&MapData, V> =
            PerCpuArray::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        array
            .get(&0, 0)
            .map_err(|source| ProbeError::Map { name, source })
    }

    /// Stop counting and recording calls (the end of a trace), and give programs already
    /// running on other CPUs time to finish.
    pub fn pause(&mut self) -> Result<(), ProbeError> {
        self.update_config(|word| word | CONFIG_PAUSED)?;
        std::thread::sleep(std::time::Duration::from_millis(10));
        Ok(())
    }

    /// The records still in the per-CPU batches (they go to the ring buffer 32 at a time).
    /// Read after [`Probes::pause`]: then no batch is flushed while it is read, so every
    /// record is taken exactly once.
    pub fn staged(&self) -> Result<Vec<SyscallRecord>, ProbeError> {
        Ok(self
            .per_cpu_slot::<StagedRecords>(STAGING_MAP)?
            .iter()
            .flat_map(|b| {
                let n = (b.count as usize).min(b.records.len());
                b.records[..n].to_vec()
            })
            .collect())
    }

    /// The record ring buffer, handed to the collector (once).
    pub fn take_records(&mut self) -> Result<RingBuf<MapData>, ProbeError> {
        let name = RECORDS_MAP;
        let map = self
            .ebpf
            .take_map(name)
            .ok_or(ProbeError::Missing { kind: "map", name })?;
        RingBuf::try_from(map).map_err(|source| ProbeError::Map { name, source })
    }
}
