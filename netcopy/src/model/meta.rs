//! Facts about a traced run that are not in its summary, saved in runs.parquet: the host,
//! when it started, how each hook was attached and what fell back.

use super::attach::CounterSource;

pub struct RunMeta {
    pub host: String,
    pub kernel: String,
    /// Wall-clock start, ns since the epoch.
    pub started_ns: i64,
    /// How each probe family was attached, e.g. "syscalls=tracepoint" ("none" untraced).
    pub attach_methods: String,
    /// What filled the cycles and instructions columns; None: nothing (they are null).
    pub counters: Option<CounterSource>,
    /// Stack sampling frequency; null when no sampling ran.
    pub sampling_hz: Option<u32>,
    /// What fell back and why (one entry per hook, and tracefs when netcopy mounted it).
    pub fallbacks: Vec<String>,
}
