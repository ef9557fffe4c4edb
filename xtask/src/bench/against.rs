//! `cargo xtask bench --against OLD`: this build's netcopy beside another one (an earlier
//! commit's), alternated run by run in one sitting: throughput untraced and traced, the
//! added ns per traced 1-byte send, and what each program costs per run (bpf_stats). A
//! change that should not touch the hot path shows here that it did not.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use anyhow::Context;

use super::{Opts, PIN, progs::ProgCost, table::median, table::spread, tools::Tools};

/// (what, verb, mode, size) of the throughput comparisons.
const THROUGHPUT: [(&str, &str, &str, &str); 4] = [
    ("run onecopy 64K, Gbit/s", "run", "onecopy", "64K"),
    ("trace onecopy 64K, Gbit/s", "trace", "onecopy", "64K"),
    ("trace onecopy 1K, Gbit/s", "trace", "onecopy", "1K"),
    ("trace twocopy 1K, Gbit/s", "trace", "twocopy", "1K"),
];

/// One measure, both sides.
struct Compared {
    what: String,
    old: Vec<f64>,
    new: Vec<f64>,
}

impl Compared {
    fn line(&self) -> String {
        format!(
            "| {} | {} | {} | {:.3} |",
            self.what,
            spread(&self.old),
            spread(&self.new),
            median(&self.new) / median(&self.old)
        )
    }
}

/// The markdown section comparing this build (`t.netcopy`) with `old`.
pub fn compare(t: &Tools, old: &Path, opts: &Opts) -> anyhow::Result<String> {
    let before = Tools {
        netcopy: old.to_owned(),
        ..t.clone()
    };
    let runs = opts.close_runs();
    let mut rows = Vec::new();
    for (what, verb, mode, size) in THROUGHPUT {
        let mut c = Compared {
            what: what.to_owned(),
            old: Vec::new(),
            new: Vec::new(),
        };
        for _ in 0..runs {
            c.old
                .push(before.netcopy_gbps(verb, mode, size, opts.seconds, &PIN)?);
            c.new
                .push(t.netcopy_gbps(verb, mode, size, opts.seconds, &PIN)?);
        }
        println!("bench: against: {}", c.line());
        rows.push(c);
    }
    // The traced 1-byte loop, with the kernel's per-program accounting on.
    let mut per_send = Compared {
        what: "traced 1-byte send, ns (bpf_stats on)".into(),
        old: Vec::new(),
        new: Vec::new(),
    };
    let mut costs: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    let secs = opts.seconds.max(2.0);
    for _ in 0..opts.runs {
        for (side, tools) in [(0, &before), (1, t)] {
            let (v, _, c) = tools.traced_loop("tiny", "1", secs, true)?;
            let ns = v["ns_per_send"].as_f64().context("ns_per_send")?;
            if side == 0 {
                per_send.old.push(ns);
            } else {
                per_send.new.push(ns);
            }
            add_costs(&mut costs, &c, side);
        }
    }
    println!("bench: against: {}", per_send.line());
    rows.push(per_send);
    for (name, (old, new)) in costs {
        if old.is_empty() || new.is_empty() {
            println!("bench: against: program {name} ran on one side only");
            continue;
        }
        let c = Compared {
            what: format!("program {name}, ns per run"),
            old,
            new,
        };
        println!("bench: against: {}", c.line());
        rows.push(c);
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n## This build against another\n\n`cargo xtask bench --against {}`: the two netcopy binaries alternated run by run in this sitting, pinned like the table above, {runs} runs each for throughput and {} for the traced 1-byte loop (bpf_stats on; programs' ns per run from bpftool). Medians [min-max].\n",
        old.display(),
        opts.runs
    );
    let _ = writeln!(o, "| measure | against | this build | this / against |");
    let _ = writeln!(o, "| --- | ---: | ---: | ---: |");
    for r in &rows {
        let _ = writeln!(o, "{}", r.line());
    }
    Ok(o)
}

fn add_costs(into: &mut BTreeMap<String, (Vec<f64>, Vec<f64>)>, costs: &[ProgCost], side: usize) {
    for c in costs {
        let e = into.entry(c.name.clone()).or_default();
        if side == 0 {
            e.0.push(c.ns_per_run);
        } else {
            e.1.push(c.ns_per_run);
        }
    }
}
