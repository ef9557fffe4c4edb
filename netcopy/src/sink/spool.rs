//! The spool between the collector and a table's encoder: rows are written compactly to a
//! file as they arrive and read back, built into batches and encoded by a group of threads
//! ([`Behind`]) that keeps out of the workload's way while the trace runs: held until it
//! ends where the workload leaves no CPU spare, else in SCHED_IDLE, on CPU time the
//! workload leaves idle.
//!
//! Encoding syscalls.parquet as records arrive took a third of a 2-CPU machine at 1K
//! (building the columns and encoding them with arrow-rs), the same CPUs the traced workload
//! runs on. The spool moves that work behind the workload: the collector only writes each
//! row's words (see [`RowEncoder`]: 6-12 bytes for a 1K call), and what is not encoded by
//! the end of the trace is encoded then, before the table's footer is written.
//!
//! Bounds: the spool file is unlinked as soon as it is open and the ranges read back are
//! punched out of it, so it holds only the backlog and leaves nothing behind. Only the
//! collector's thread takes the file's locks (writing, punching): the reader only reads. A
//! thread in SCHED_IDLE that held the inode lock (ext4 takes it to punch a hole) could be
//! kept off the CPU by the workload while the collector waited for it, and the records
//! would fill the ring buffer meanwhile. Each [`BACKLOG_CAP`] of backlog moves the group a
//! [`Level`] up (held, idle, normal) and it moves back down half a cap below: a long trace
//! at a high call rate then costs what encoding as rows arrive costs, and the disk used
//! stays bounded.

use std::{
    fs::{File, OpenOptions},
    os::unix::fs::FileExt,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc::{Receiver, Sender, channel},
    },
    thread::JoinHandle,
};

use super::{
    RunDir, SinkError,
    behind::{Behind, Level},
};

/// Words per row: what the spool carries of each row, as plain `u64`s.
pub const WORDS: usize = 22;

/// Bytes gathered before they are written to the spool and handed to the reader.
const CHUNK: usize = 256 * 1024;

/// Bytes read back before the collector punches them out of the file.
const PUNCH_EVERY: u64 = 4 * 1024 * 1024;

/// Backlog (spooled, not yet read back) that moves the encoding threads a level up: see
/// [`next_level`]. At the highest call rate (twocopy 1K, about 1.5 million rows a second, 6
/// bytes a row in the spool) 128 MiB is about 15 s of rows, more than a default 10 s trace
/// spools, and encoding that much after the trace takes about 8 s.
pub const BACKLOG_CAP: u64 = 128 * 1024 * 1024;

/// The level the encoding group should be at, now at `now`, with `backlog` bytes spooled and
/// not read back: from its resting level up to normal, one level more for each
/// [`BACKLOG_CAP`] the backlog passes, and one less once it is half a cap below where the
/// level was entered.
fn next_level(rest: Level, now: Level, backlog: u64) -> Level {
    let ladder: &[Level] = match rest {
        Level::Held => &[Level::Held, Level::Idle, Level::Normal],
        Level::Idle => &[Level::Idle, Level::Normal],
        Level::Normal => &[Level::Normal],
    };
    let at = ladder.iter().position(|l| *l == now).unwrap_or(0);
    let up = (1..ladder.len())
        .take_while(|&k| backlog > k as u64 * BACKLOG_CAP)
        .last()
        .unwrap_or(0);
    if up > at {
        return ladder[up];
    }
    let down = (1..=at)
        .take_while(|&k| backlog >= k as u64 * BACKLOG_CAP - BACKLOG_CAP / 2)
        .last()
        .unwrap_or(0);
    ladder[down]
}

/// Each row as the XOR of its words with the previous row's: a varint bitmask of the
/// non-zero ones, then their byte lengths (a nibble each, two to a byte), then their bytes,
/// little-endian and only as many as each needs. Calls of one thread follow each other in
/// the records (a ring buffer item is one CPU's batch), so thread, fd, flags, size and the
/// zero counters cancel out and a row is mostly its start time and duration.
///
/// Lengths up front let each word go out as one 8-byte store whatever its length, where
/// LEB128 varints took a byte and a branch per 7 bits: the encoder took 40% of the
/// collector's time, most of it in the varints' loops (`cargo bench -p netcopy --bench sink
/// -- collector` times the collector's path).
#[derive(Default)]
pub struct RowEncoder {
    prev: [u64; WORDS],
}

impl RowEncoder {
    /// Write the row whose words are `head` and then `last` at `out[at..]`, which must have
    /// room for [`MAX_ROW_BYTES`]; returns where the row ends.
    #[inline(always)]
    pub fn put(&mut self, head: &[u64; WORDS - 1], last: u64, out: &mut [u8], at: usize) -> usize {
        let mut xs = [0u64; WORDS];
        // Plain indexed loops over fixed lengths: LLVM unrolls them without bounds checks
        // (an iterator chain here compiled to a loop that took most of the encoding time).
        for j in 0..WORDS - 1 {
            xs[j] = head[j] ^ self.prev[j];
            self.prev[j] = head[j];
        }
        xs[WORDS - 1] = last ^ self.prev[WORDS - 1];
        self.prev[WORDS - 1] = last;
        let (mut mask, mut nonzero) = (0u32, 0usize);
        for (j, x) in xs.iter().enumerate() {
            mask |= u32::from(*x != 0) << j;
            // Counted here: without POPCNT in the target, count_ones() is a dozen instructions.
            nonzero += usize::from(*x != 0);
        }
        let lengths = varint(out, at, u64::from(mask));
        let mut end = lengths + nonzero.div_ceil(2);
        let (mut m, mut k, mut pair) = (mask, 0, 0u8);
        while m != 0 {
            let x = xs[m.trailing_zeros() as usize];
            // 1 to 8: the word is not zero.
            let len = 8 - x.leading_zeros() as usize / 8;
            // All 8 bytes are stored; the next word's overwrite those past `len`.
            if let Some(b) = out.get_mut(end..end + 8) {
                b.copy_from_slice(&x.to_le_bytes());
            }
            end += len;
            pair |= ((len - 1) as u8) << (4 * (k & 1));
            if k & 1 == 1 {
                put_byte(out, lengths + k / 2, pair);
                pair = 0;
            }
            k += 1;
            m &= m - 1;
        }
        if k & 1 == 1 {
            put_byte(out, lengths + k / 2, pair);
        }
        end
    }
}

/// The most bytes a row takes, and all that [`RowEncoder::put`] writes: a 4-byte varint for
/// the mask, a nibble and 8 bytes per word.
pub const MAX_ROW_BYTES: usize = 4 + WORDS.div_ceil(2) + WORDS * 8;

#[inline(always)]
fn put_byte(buf: &mut [u8], at: usize, v: u8) {
    if let Some(b) = buf.get_mut(at) {
        *b = v;
    }
}

/// Write `v` as a LEB128 varint at `buf[at..]`; returns where it ends (bytes past the end
/// of `buf` are not written).
#[inline(always)]
fn varint(buf: &mut [u8], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        put_byte(buf, at, v as u8 | 0x80);
        at += 1;
        v >>= 7;
    }
    put_byte(buf, at, v as u8);
    at + 1
}

/// The inverse of [`RowEncoder`], fed the same bytes in the same order.
#[derive(Default)]
pub struct RowDecoder {
    prev: [u64; WORDS],
}

impl RowDecoder {
    /// The row at `*at` in `bytes`, moving `*at` past it; `None` for bytes that do not
    /// form a row.
    #[inline(always)]
    pub fn next(&mut self, bytes: &[u8], at: &mut usize) -> Option<[u64; WORDS]> {
        let mask = read_varint(bytes, at)?;
        if mask >> WORDS != 0 {
            return None;
        }
        let mut m = mask as u32;
        let lengths = bytes.get(*at..*at + (m.count_ones() as usize).div_ceil(2))?;
        let mut end = *at + lengths.len();
        let mut words = self.prev;
        let mut k = 0;
        while m != 0 {
            let len = usize::from(lengths[k / 2] >> (4 * (k & 1)) & 0xf) + 1;
            if len > 8 {
                return None;
            }
            let mut le = [0u8; 8];
            le[..len].copy_from_slice(bytes.get(end..end + len)?);
            words[m.trailing_zeros() as usize] ^= u64::from_le_bytes(le);
            end += len;
            k += 1;
            m &= m - 1;
        }
        *at = end;
        self.prev = words;
        Some(words)
    }
}

#[inline(always)]
fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// What the reader thread hands each row to: it builds and encodes the table.
pub trait Rows: Send + 'static {
    /// One row's words; `names` are the latest names the writer gave with
    /// [`Spool::names`] (the keys of a dictionary column whose values grow).
    fn row(&mut self, words: &[u64; WORDS], names: &[String]) -> Result<(), SinkError>;
    /// Encode what is left, write the footer, and say where the table is.
    fn close(self) -> Result<PathBuf, SinkError>;
}

/// A chunk written to the spool, in order.
struct Chunk {
    len: usize,
    names: Option<Vec<String>>,
}

/// The writing end, owned by the collector.
pub struct Spool {
    file: File,
    path: PathBuf,
    /// Rows gathered, in `bytes[..filled]`; room for a row more than a chunk.
    bytes: Vec<u8>,
    filled: usize,
    encoder: RowEncoder,
    names: Option<Vec<String>>,
    /// Bytes written to the file, and how far the reader has read (it sets this).
    written: u64,
    read_to: Arc<AtomicU64>,
    /// Where the punched-out range ends.
    punched: u64,
    behind: Arc<Behind>,
    /// The group's level as last set from here.
    level: Level,
    tx: Option<Sender<Chunk>>,
    reader: Option<JoinHandle<Result<PathBuf, SinkError>>>,
}

impl Spool {
    /// Start spooling the rows of `table` in `dir`; `rows` builds and encodes them on a
    /// reader thread in the group `behind` (which its encoder thread may join too).
    pub fn start(
        dir: &RunDir,
        table: &str,
        behind: Arc<Behind>,
        rows: impl Rows,
    ) -> Result<Self, SinkError> {
        let path = dir.path.join(format!(".{table}.spool"));
        let io = |source| SinkError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io)?;
        // Unlinked at once: the open file lives until both ends close it, and nothing is
        // left in the run directory if netcopy is killed.
        std::fs::remove_file(&path).map_err(io)?;
        let read = file.try_clone().map_err(io)?;
        let read_to = Arc::new(AtomicU64::new(0));
        let (tx, rx) = channel();
        let reader = {
            let (read_to, behind, path) = (read_to.clone(), behind.clone(), path.clone());
            std::thread::Builder::new()
                .name(format!("spool-{table}"))
                .spawn(move || read_back(read, path, rx, &read_to, &behind, rows))
                .map_err(io)?
        };
        Ok(Self {
            file,
            path,
            bytes: vec![0; CHUNK + MAX_ROW_BYTES],
            filled: 0,
            encoder: RowEncoder::default(),
            names: None,
            written: 0,
            read_to,
            punched: 0,
            level: behind.rest(),
            behind,
            tx: Some(tx),
            reader: Some(reader),
        })
    }

    /// Add one row: the words `head`, then `last`.
    #[inline(always)]
    pub fn put(&mut self, head: &[u64; WORDS - 1], last: u64) -> Result<(), SinkError> {
        self.filled = self.encoder.put(head, last, &mut self.bytes, self.filled);
        if self.filled >= CHUNK {
            self.ship()?;
        }
        Ok(())
    }

    /// The names rows from now on refer to (sent with the next chunk).
    pub fn names(&mut self, names: Vec<String>) {
        self.names = Some(names);
    }

    /// Write the gathered bytes and tell the reader.
    fn ship(&mut self) -> Result<(), SinkError> {
        let len = self.filled;
        if len == 0 && self.names.is_none() {
            return Ok(());
        }
        use std::io::Write as _;
        if let Err(source) = self.file.write_all(&self.bytes[..len]) {
            return Err(SinkError::Io {
                path: self.path.clone(),
                source,
            });
        }
        self.written += len as u64;
        self.filled = 0;
        let chunk = Chunk {
            len,
            names: self.names.take(),
        };
        if self.tx.as_ref().is_none_or(|tx| tx.send(chunk).is_err()) {
            // The reader stopped: its error says why.
            return Err(self.join().err().unwrap_or_else(|| self.gone()));
        }
        let read_to = self.read_to.load(Ordering::Acquire);
        if read_to >= self.punched + PUNCH_EVERY {
            punch(&self.file, self.punched, read_to - self.punched);
            self.punched = read_to;
        }
        let backlog = self.written - read_to;
        let level = next_level(self.behind.rest(), self.level, backlog);
        // Never waits on the group's lock (see `Behind::join`): tried again next chunk.
        if level != self.level && self.behind.try_set_level(level) {
            self.level = level;
        }
        Ok(())
    }

    /// Spool what is gathered, let the reader finish at normal priority, and return where
    /// its table went.
    pub fn close(mut self) -> Result<PathBuf, SinkError> {
        self.ship()?;
        self.behind.set_level(Level::Normal);
        self.tx = None;
        self.join()?.ok_or_else(|| self.gone())
    }

    fn join(&mut self) -> Result<Option<PathBuf>, SinkError> {
        match self.reader.take().map(JoinHandle::join) {
            Some(Ok(result)) => result.map(Some),
            Some(Err(_)) | None => Err(self.gone()),
        }
    }

    fn gone(&self) -> SinkError {
        SinkError::EncoderGone(self.path.display().to_string())
    }
}

impl Drop for Spool {
    /// A spool dropped without `close` (its trace failed) lets a held reader go: it reads
    /// what is spooled and ends when the chunks do.
    fn drop(&mut self) {
        self.behind.set_level(Level::Normal);
    }
}

/// The reader thread: each chunk read back, decoded and handed to `rows`, and how far it
/// has read published in `read_to` (the writer punches what is behind it; see the module).
fn read_back(
    file: File,
    path: PathBuf,
    rx: Receiver<Chunk>,
    read_to: &AtomicU64,
    behind: &Arc<Behind>,
    mut rows: impl Rows,
) -> Result<PathBuf, SinkError> {
    let _member = behind.join();
    let io = |source| SinkError::Io {
        path: path.clone(),
        source,
    };
    let mut decoder = RowDecoder::default();
    let mut names = Vec::new();
    let mut bytes = Vec::new();
    let mut offset = 0u64;
    for chunk in rx {
        behind.wait_while_held();
        if let Some(n) = chunk.names {
            names = n;
        }
        bytes.resize(chunk.len, 0);
        file.read_exact_at(&mut bytes, offset).map_err(io)?;
        let mut at = 0;
        while at < bytes.len() {
            let words = decoder.next(&bytes, &mut at).ok_or_else(|| {
                io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("spooled bytes at {} do not form a row", offset + at as u64),
                ))
            })?;
            rows.row(&words, &names)?;
        }
        offset += chunk.len as u64;
        read_to.store(offset, Ordering::Release);
    }
    rows.close()
}

/// Free the disk and page cache of a range read back. Best effort: where the file system
/// cannot punch holes, the unlinked file grows until the table is closed.
fn punch(file: &File, offset: u64, len: u64) {
    use nix::fcntl::{FallocateFlags, fallocate};
    let _ = fallocate(
        file,
        FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
        offset as i64,
        len as i64,
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Rows like a trace's: runs of one thread's calls with repeating words, a start time
    /// that grows, and now and then every word changed, zeros and the largest values.
    fn rows(n: usize) -> Vec<[u64; WORDS]> {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut t = 1u64 << 40;
        (0..n)
            .map(|i| {
                let r = next();
                t += r % 5000;
                let mut w = [0u64; WORDS];
                w[0] = t;
                w[1] = r % 4096;
                w[7] = 0x1000_0000_1001 + (i as u64 / 32 % 2);
                w[WORDS - 1] = (i as u64 / 32) % 3;
                match r % 97 {
                    0 => w = [u64::MAX; WORDS],
                    1 => w = [0; WORDS],
                    2 => w.iter_mut().for_each(|x| *x = next()),
                    _ => {}
                }
                w
            })
            .collect()
    }

    fn split(w: &[u64; WORDS]) -> (&[u64; WORDS - 1], u64) {
        (w[..WORDS - 1].try_into().unwrap(), w[WORDS - 1])
    }

    #[test]
    fn rows_come_back_as_they_went_in_and_small() {
        let rows = rows(20_000);
        let mut bytes = vec![0; rows.len() * MAX_ROW_BYTES];
        let mut encoder = RowEncoder::default();
        let mut end = 0;
        for w in &rows {
            let (head, last) = split(w);
            end = encoder.put(head, last, &mut bytes, end);
        }
        bytes.truncate(end);
        let mut decoder = RowDecoder::default();
        let mut at = 0;
        for (i, w) in rows.iter().enumerate() {
            assert_eq!(decoder.next(&bytes, &mut at).as_ref(), Some(w), "row {i}");
        }
        assert_eq!(at, bytes.len());
        // A row of 22 words is 176 bytes as it is; these mostly differ in two words.
        let per_row = bytes.len() as f64 / rows.len() as f64;
        assert!(per_row < 16.0, "{per_row} bytes per row");
    }

    #[test]
    fn bytes_that_end_inside_a_row_are_not_a_row() {
        let mut bytes = vec![0; MAX_ROW_BYTES];
        let end = RowEncoder::default().put(&[u64::MAX; WORDS - 1], u64::MAX, &mut bytes, 0);
        bytes.truncate(end);
        for cut in 0..bytes.len() {
            let mut at = 0;
            assert_eq!(
                RowDecoder::default().next(&bytes[..cut], &mut at),
                None,
                "{cut}"
            );
        }
        // A mask naming words past the last one.
        let mut at = 0;
        let mut bad = [0u8; MAX_ROW_BYTES];
        let n = varint(&mut bad, 0, 1 << WORDS);
        assert_eq!(RowDecoder::default().next(&bad[..n], &mut at), None);
        // A length past 8 bytes (nibble 8 is 9 bytes), with bytes enough for it.
        let mut at = 0;
        let bad = [0b1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(RowDecoder::default().next(&bad, &mut at), None);
    }

    #[test]
    fn each_word_takes_the_bytes_its_value_needs() {
        // One word changing per row, by a value of 1 to 8 bytes: mask, a nibble, the bytes.
        let mut encoder = RowEncoder::default();
        let mut decoder = RowDecoder::default();
        let mut bytes = vec![0; MAX_ROW_BYTES + 8];
        let mut w = [0u64; WORDS];
        for len in 1..=8usize {
            w[3] ^= 1 << (8 * len - 1);
            let (head, last) = split(&w);
            let end = encoder.put(head, last, &mut bytes, 0);
            assert_eq!(end, 2 + len, "a word of {len} bytes");
            assert_eq!(bytes[..2], [1 << 3, (len - 1) as u8]);
            let mut at = 0;
            assert_eq!(decoder.next(&bytes[..end], &mut at), Some(w));
            assert_eq!(at, end);
        }
    }

    /// Collects rows on the reader thread and returns them through a shared vector.
    /// Each row's words and the names it came with.
    type Kept = Arc<Mutex<Vec<([u64; WORDS], Vec<String>)>>>;
    struct Keep(Kept, PathBuf);
    impl Rows for Keep {
        fn row(&mut self, words: &[u64; WORDS], names: &[String]) -> Result<(), SinkError> {
            self.0.lock().unwrap().push((*words, names.to_vec()));
            Ok(())
        }
        fn close(self) -> Result<PathBuf, SinkError> {
            Ok(self.1)
        }
    }

    /// A spool at `level` in a new run directory (named `name` and this process) that keeps
    /// what it reads back.
    fn keeping(name: &str, level: Level) -> (PathBuf, Kept, Spool) {
        let path = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let dir = RunDir::create(&path, "run".into(), true).unwrap();
        let kept = Arc::new(Mutex::new(Vec::new()));
        let keep = Keep(kept.clone(), PathBuf::from("done"));
        let spool = Spool::start(&dir, "t", Behind::new(level), keep).unwrap();
        (path, kept, spool)
    }

    #[test]
    fn a_spool_hands_every_row_over_in_order_with_its_names_and_leaves_no_file() {
        let (path, kept, mut spool) = keeping("netcopy-spool", Level::Idle);
        let rows = rows(100_000);
        for (i, w) in rows.iter().enumerate() {
            if i == 0 || i == 70_000 {
                spool.names(vec![format!("names from {i}")]);
            }
            let (head, last) = split(w);
            spool.put(head, last).unwrap();
        }
        assert_eq!(spool.close().unwrap(), PathBuf::from("done"));
        let kept = kept.lock().unwrap();
        assert_eq!(kept.len(), rows.len());
        for (i, ((w, names), want)) in kept.iter().zip(&rows).enumerate() {
            assert_eq!(w, want, "row {i}");
            // Names given before a row reach the reader no later than that row.
            if i < 70_000 {
                assert!(!names.is_empty(), "row {i}");
            } else {
                assert_eq!(names, &["names from 70000".to_owned()], "row {i}");
            }
        }
        let left: Vec<_> = std::fs::read_dir(&path).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn a_held_spool_reads_nothing_back_until_it_closes_and_then_every_row() {
        let (path, kept, mut spool) = keeping("netcopy-spool-held", Level::Held);
        let rows = rows(100_000);
        spool.names(vec!["n".into()]);
        for w in &rows {
            let (head, last) = split(w);
            spool.put(head, last).unwrap();
        }
        // Several chunks were shipped; a reader that was not held would be reading them.
        assert!(spool.written > 2 * CHUNK as u64, "{}", spool.written);
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(kept.lock().unwrap().is_empty());
        assert_eq!(spool.read_to.load(Ordering::Acquire), 0);
        assert_eq!(spool.close().unwrap(), PathBuf::from("done"));
        let kept = kept.lock().unwrap();
        assert_eq!(kept.len(), rows.len());
        assert!(kept.iter().zip(&rows).all(|((w, _), want)| w == want));
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn each_cap_of_backlog_moves_the_group_a_level_up_and_half_a_cap_less_moves_it_down() {
        use Level::*;
        let cap = BACKLOG_CAP;
        // Held at rest: idle past a cap, normal past two; down again half a cap below.
        assert_eq!(next_level(Held, Held, cap), Held);
        assert_eq!(next_level(Held, Held, cap + 1), Idle);
        assert_eq!(next_level(Held, Held, 2 * cap + 1), Normal);
        assert_eq!(next_level(Held, Idle, cap / 2 + 1), Idle);
        assert_eq!(next_level(Held, Idle, cap / 2 - 1), Held);
        assert_eq!(next_level(Held, Normal, 3 * cap / 2), Normal);
        assert_eq!(next_level(Held, Normal, 3 * cap / 2 - 1), Idle);
        assert_eq!(next_level(Held, Normal, 0), Held);
        // Idle at rest, as before there were three levels: normal past a cap, idle below half.
        assert_eq!(next_level(Idle, Idle, cap), Idle);
        assert_eq!(next_level(Idle, Idle, cap + 1), Normal);
        assert_eq!(next_level(Idle, Normal, cap / 2), Normal);
        assert_eq!(next_level(Idle, Normal, cap / 2 - 1), Idle);
        // Normal at rest stays there.
        assert_eq!(next_level(Normal, Normal, 0), Normal);
    }

    /// Fails at its `n`th row, as an encoder with a full disk would.
    struct FailAt(usize);
    impl Rows for FailAt {
        fn row(&mut self, _: &[u64; WORDS], _: &[String]) -> Result<(), SinkError> {
            self.0 = self.0.saturating_sub(1);
            if self.0 == 0 {
                return Err(SinkError::EncoderGone("the test's encoder".into()));
            }
            Ok(())
        }
        fn close(self) -> Result<PathBuf, SinkError> {
            Ok(PathBuf::from("never"))
        }
    }

    #[test]
    fn an_error_of_the_reader_comes_back_to_the_writer() {
        let path = std::env::temp_dir().join(format!("netcopy-spool-err-{}", std::process::id()));
        let dir = RunDir::create(&path, "run".into(), true).unwrap();
        let mut spool = Spool::start(&dir, "t", Behind::new(Level::Idle), FailAt(10)).unwrap();
        let rows = rows(50_000);
        let mut failed = None;
        for w in &rows {
            let (head, last) = split(w);
            if let Err(e) = spool.put(head, last) {
                failed = Some(e);
                break;
            }
        }
        let e = match failed {
            Some(e) => e,
            None => spool.close().unwrap_err(),
        };
        assert!(e.to_string().contains("the test's encoder"), "{e}");
        std::fs::remove_dir_all(&path).unwrap();
    }
}
