//! `--cpu-affinity`: pin the sending and the receiving connection threads to CPUs.
//!
//! Over loopback the receive softirq runs inside the sender's call and wakes the receiver,
//! and the scheduler likes to wake it on the sender's CPU. Whether the two ends of a
//! connection then share a CPU or not changes a 64K run on a 2-CPU VM by up to 2.5x (18.7 to
//! 47.5 Gbit/s in six untraced runs in a row here), so comparisons pin them.

use super::WorkloadError;
use crate::model::Affinity;

/// `N` (both ends on CPU N) or `S,R` (senders on S, receivers on R); each must be a CPU
/// this process may run on.
pub fn parse(s: &str) -> Result<Affinity, String> {
    let cpu = |t: &str| -> Result<usize, String> {
        let n: usize = t
            .trim()
            .parse()
            .map_err(|_| format!("{t:?} is not a CPU number"))?;
        let allowed = allowed_cpus();
        if !allowed.contains(&n) {
            return Err(format!(
                "CPU {n} is not one this process may run on (allowed: {})",
                list(&allowed)
            ));
        }
        Ok(n)
    };
    let (sender, receiver) = match s.split_once(',') {
        Some((a, b)) => (cpu(a)?, cpu(b)?),
        None => {
            let n = cpu(s)?;
            (n, n)
        }
    };
    Ok(Affinity {
        sender: Some(sender),
        receiver: Some(receiver),
    })
}

/// Pin the calling thread to `cpu`, if one is given.
pub fn pin(cpu: Option<usize>) -> Result<(), WorkloadError> {
    let Some(cpu) = cpu else {
        return Ok(());
    };
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)
        .and_then(|()| nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set))
        .map_err(|e| WorkloadError::io(format!("pin to CPU {cpu}"), e.into()))
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    let Ok(set) = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..nix::sched::CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

fn list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cpu_or_a_pair() {
        let first = allowed_cpus()[0];
        let a = parse(&first.to_string()).unwrap();
        assert_eq!((a.sender, a.receiver), (Some(first), Some(first)));
        let last = *allowed_cpus().last().unwrap();
        let b = parse(&format!("{last},{first}")).unwrap();
        assert_eq!((b.sender, b.receiver), (Some(last), Some(first)));
        assert_eq!(
            b.to_string(),
            format!("senders on CPU {last}, receivers on CPU {first}")
        );
    }

    #[test]
    fn cpus_that_cannot_be_had_are_refused() {
        let e = parse("4095").unwrap_err();
        assert!(
            e.contains("CPU 4095 is not one this process may run on"),
            "{e}"
        );
        assert!(parse("x").unwrap_err().contains("not a CPU number"));
        assert!(parse("0,").is_err());
    }

    #[test]
    fn a_pinned_thread_runs_only_there() {
        let cpu = *allowed_cpus().last().unwrap();
        let on = std::thread::spawn(move || {
            pin(Some(cpu)).unwrap();
            allowed_cpus()
        })
        .join()
        .unwrap();
        assert_eq!(on, [cpu]);
        assert!(pin(None).is_ok());
    }
}
