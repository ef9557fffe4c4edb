//! Kernel symbols from /proc/kallsyms, for turning sampled instruction pointers into names.
//!
//! Only text symbols (types t, T, w, W) are kept, sorted by address, in one string arena.
//! Without root the kernel shows every address as 0; that is an error, not an empty table.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KallsymsError {
    #[error("read /proc/kallsyms: {0}")]
    Read(String),
    #[error("/proc/kallsyms shows no addresses (they are hidden from this user): run as root")]
    Hidden,
    #[error("/proc/kallsyms has no text symbols")]
    Empty,
}

/// Address ranges of the off-CPU waiters, as the sched programs take them.
pub type WaitRanges = [[u64; 2]; netcopy_common::offcpu::WAITERS.len()];

/// Text symbols by address.
pub struct Kallsyms {
    /// (address, offset into `names`, length), sorted by address.
    symbols: Vec<(u64, u32, u32)>,
    names: String,
}

impl Kallsyms {
    pub fn load() -> Result<Self, KallsymsError> {
        let text = std::fs::read_to_string("/proc/kallsyms")
            .map_err(|e| KallsymsError::Read(e.to_string()))?;
        Self::parse(&text)
    }

    /// Parse kallsyms text. Lines that are not `ADDR TYPE NAME [MODULE]` are skipped.
    pub fn parse(text: &str) -> Result<Self, KallsymsError> {
        let mut symbols = Vec::new();
        let mut names = String::new();
        let mut any_address = false;
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Ok(addr) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            any_address |= addr != 0;
            if !matches!(kind, "t" | "T" | "w" | "W") || addr == 0 {
                continue;
            }
            symbols.push((addr, names.len() as u32, name.len() as u32));
            names.push_str(name);
        }
        if !any_address && !text.trim().is_empty() {
            return Err(KallsymsError::Hidden);
        }
        if symbols.is_empty() {
            return Err(KallsymsError::Empty);
        }
        symbols.sort_unstable_by_key(|s| s.0);
        Ok(Self { symbols, names })
    }

    /// The symbol containing `addr`: the one with the greatest address at or below it.
    pub fn resolve(&self, addr: u64) -> Option<&str> {
        let i = self
            .symbols
            .partition_point(|s| s.0 <= addr)
            .checked_sub(1)?;
        let (_, at, len) = self.symbols[i];
        self.names.get(at as usize..(at + len) as usize)
    }

    /// The frames of a stack stored innermost first, outermost first, `[unknown]` where no
    /// symbol holds the address.
    pub fn outer_first(&self, innermost_first: &[u64]) -> Vec<&str> {
        innermost_first
            .iter()
            .rev()
            .map(|ip| self.resolve(*ip).unwrap_or("[unknown]"))
            .collect()
    }

    /// The address of `name` (the first text symbol so named).
    pub fn address_of(&self, name: &str) -> Option<u64> {
        self.symbols
            .iter()
            .find(|(_, at, len)| self.names.get(*at as usize..(at + len) as usize) == Some(name))
            .map(|s| s.0)
    }

    /// The [start, end) addresses of `name`: from its address to the next symbol's.
    pub fn range_of(&self, name: &str) -> Option<[u64; 2]> {
        let start = self.address_of(name)?;
        let next = self.symbols.partition_point(|s| s.0 <= start);
        let end = self.symbols.get(next).map_or(u64::MAX, |s| s.0);
        Some([start, end])
    }

    /// Each of the off-CPU waiters' ranges (`netcopy_common::offcpu::WAITERS`), [0, 0] for a
    /// function this kernel does not have.
    pub fn wait_ranges(&self) -> WaitRanges {
        netcopy_common::offcpu::WAITERS.map(|(name, _)| self.range_of(name).unwrap_or([0, 0]))
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
ffffffff81000000 T _stext
ffffffff81000100 t tcp_sendmsg
ffffffff81000200 D some_data
ffffffff81000300 T tcp_sendmsg_locked
not a line
ffffffffc0a01000 t veth_xmit\t[veth]
";

    #[test]
    fn resolves_between_at_and_below() {
        let k = Kallsyms::parse(TEXT).unwrap();
        assert_eq!(k.len(), 4, "data symbols and junk are skipped");
        assert_eq!(k.resolve(0xffffffff81000100), Some("tcp_sendmsg"));
        assert_eq!(
            k.resolve(0xffffffff810002ff),
            Some("tcp_sendmsg"),
            "data symbol ignored"
        );
        assert_eq!(k.resolve(0xffffffff81000305), Some("tcp_sendmsg_locked"));
        assert_eq!(
            k.resolve(0xffffffffc0a01010),
            Some("veth_xmit"),
            "module suffix dropped"
        );
        assert_eq!(k.resolve(0x1000), None);
        assert_eq!(k.address_of("tcp_sendmsg_locked"), Some(0xffffffff81000300));
    }

    #[test]
    fn a_range_ends_where_the_next_text_symbol_starts() {
        let k = Kallsyms::parse(TEXT).unwrap();
        assert_eq!(
            k.range_of("tcp_sendmsg"),
            Some([0xffffffff81000100, 0xffffffff81000300]),
            "the data symbol between does not end it"
        );
        assert_eq!(
            k.range_of("veth_xmit"),
            Some([0xffffffffc0a01000, u64::MAX])
        );
        assert_eq!(k.range_of("sk_wait_data"), None);
        assert!(k.wait_ranges().iter().all(|r| *r == [0, 0]));
    }

    #[test]
    fn hidden_addresses_are_an_error() {
        let hidden = "0000000000000000 T _stext\n0000000000000000 t tcp_sendmsg\n";
        assert_eq!(Kallsyms::parse(hidden).err(), Some(KallsymsError::Hidden));
        assert_eq!(Kallsyms::parse("").err(), Some(KallsymsError::Empty));
    }

    #[test]
    fn this_kernel_resolves_tcp_sendmsg() {
        // Runs as root in CI (cargo xtask test), where addresses are visible.
        let k = Kallsyms::load().unwrap_or_else(|e| panic!("{e}"));
        let addr = k
            .address_of("tcp_sendmsg")
            .unwrap_or_else(|| panic!("no tcp_sendmsg"));
        assert_eq!(k.resolve(addr), Some("tcp_sendmsg"));
        assert_eq!(k.resolve(addr + 1), Some("tcp_sendmsg"));
    }
}
