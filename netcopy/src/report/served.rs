//! One line per connection `netcopy serve` served: text, or a JSON object (JSON lines).

use crate::{units::format_size, workload::server::Served};

pub fn line(s: &Served, json: bool) -> String {
    let h = &s.hello;
    let r = &s.report;
    // Null when the client asked for --no-latency; one call in `one_in` timed.
    let one_in = h.timing.one_in();
    let latency = r.latency.as_ref().map(|l| l.summary());
    let q = |p: fn(&crate::model::LatencySummary) -> Option<u64>| {
        latency
            .as_ref()
            .and_then(p)
            .map_or("-".into(), |v| v.to_string())
    };
    if json {
        return serde_json::json!({
            "session": h.session, "connection": h.index, "mode": h.mode, "size": h.size,
            "bytes": r.end.bytes, "messages": r.end.messages, "calls": r.end.calls,
            "send_latency_ns": latency, "calls_timed_one_in": one_in, "zerocopy": r.zerocopy,
        })
        .to_string();
    }
    let zc = r.zerocopy.as_ref().map_or(String::new(), |z| {
        format!(
            ", zerocopy {} sends / {} completed / {} copied",
            z.sends, z.completed, z.copied
        )
    });
    format!(
        "served {} {} connection {}/{}: {} messages, {} bytes, send p50 {} ns p99 {} ns{zc}",
        h.mode,
        format_size(h.size),
        h.index + 1,
        h.conns,
        r.end.messages,
        r.end.bytes,
        q(|l| l.p50),
        q(|l| l.p99),
    )
}
