//! Writing runs to Parquet: one file per table in a run directory (`runs`, `syscalls`,
//! `stages` and `stacks`, `zerocopy`, `uring`; docs/schema.md documents every column).
//!
//! Every table is written with the same explicit [`WriterProperties`] (ZSTD, dictionary
//! encoding, bounded row groups) and carries its metadata keys in the footer. A table is
//! written to `NAME.parquet.partial` and renamed when its footer is written, so a reader
//! never sees a half-written `NAME.parquet`; a long one goes on in parts that are joined when
//! it is closed ([`parts`]). docs/schema.md documents every column.

pub mod runs;
pub mod stages;
pub mod syscalls;
pub mod uring;
pub mod zerocopy;

mod background;
pub mod behind;
mod parts;
pub mod spool;

use parts::Layout;

pub use background::BackgroundTable;

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::Arc,
};

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, DataType, Schema};
use parquet::{
    arrow::ArrowWriter,
    basic::{Compression, Encoding, ZstdLevel},
    errors::ParquetError,
    file::metadata::KeyValue,
    file::properties::{EnabledStatistics, WriterProperties},
    schema::types::ColumnPath,
};
use thiserror::Error;

use crate::units::utc_stamp;

/// Rows buffered before they are handed to the Parquet writer as one batch. Small enough
/// that a batch's columns stay in the CPU caches while they are encoded (8192 encoded about
/// 8% faster than 65536 in the `sink` bench).
pub const BATCH_ROWS: usize = 8192;

/// Footer metadata keys, the same in every table.
pub mod keys {
    pub const RUN_ID: &str = "netcopy.run_id";
    pub const VERSION: &str = "netcopy.version";
    pub const TABLE: &str = "netcopy.table";
}

#[derive(Debug, Error)]
pub enum SinkError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parquet: {0}")]
    Parquet(#[from] ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("{0} already holds a run: choose another --out, or add --force to replace it")]
    NotEmpty(PathBuf),
    #[error("{path}: cannot write there: {source}")]
    Unwritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the Parquet encoder thread of {0} stopped unexpectedly")]
    EncoderGone(String),
    #[error("a spooled row was not one netcopy wrote (a bug)")]
    Spool,
}

impl SinkError {
    /// Bad input the user can fix (a `--out` that cannot be written or holds a run).
    pub fn is_usage(&self) -> bool {
        matches!(self, SinkError::NotEmpty(_) | SinkError::Unwritable { .. })
    }
}

/// Where runs go when no `--out` is given.
pub const DEFAULT_PARENT: &str = "netcopy-runs";

/// The directory a run's tables go to.
#[derive(Clone, Debug)]
pub struct RunDir {
    pub path: PathBuf,
    pub run_id: String,
}

impl RunDir {
    /// The directory of a run labelled `label` (its mode, its end, its sweep cell): `out`
    /// when given, created, and refused when it holds tables unless `force`; else a new
    /// `netcopy-runs/<run id or UTC time>-<label>`. The run id is `run_id` when given (two
    /// ends of a run share one), else `<UTC time>-<label>-<pid>`.
    pub fn for_run(
        out: Option<&Path>,
        label: &str,
        run_id: Option<String>,
        force: bool,
    ) -> Result<Self, SinkError> {
        let stamp = utc_stamp(std::time::SystemTime::now());
        let name = format!("{}-{label}", run_id.as_deref().unwrap_or(&stamp));
        let run_id = run_id.unwrap_or_else(|| format!("{stamp}-{label}-{}", std::process::id()));
        match out {
            Some(path) => Self::create(path, run_id, force),
            None => Self::create_new(Path::new(DEFAULT_PARENT), &name, run_id),
        }
    }

    /// Create `path` (and parents). An existing directory that holds any `*.parquet` is
    /// refused unless `force`, in which case those files are replaced.
    fn create(path: &Path, run_id: String, force: bool) -> Result<Self, SinkError> {
        let io = |source| SinkError::Io {
            path: path.to_owned(),
            source,
        };
        writable_dir(path)?;
        let holds_tables = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "parquet"));
        if holds_tables && !force {
            return Err(SinkError::NotEmpty(path.to_owned()));
        }
        Ok(Self {
            path: path.to_owned(),
            run_id,
        })
    }

    /// A new directory `parent/name`, or `parent/name-2`, `-3`, ... when that one exists:
    /// two runs started in the same second never share a directory.
    fn create_new(parent: &Path, name: &str, run_id: String) -> Result<Self, SinkError> {
        let io = |path: &Path, source| SinkError::Io {
            path: path.to_owned(),
            source,
        };
        writable_dir(parent)?;
        let mut path = parent.join(name);
        for n in 2.. {
            match std::fs::create_dir(&path) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {
                    path = parent.join(format!("{name}-{n}"));
                }
                Err(e) => return Err(io(&path, e)),
            }
        }
        Ok(Self { path, run_id })
    }

    pub fn table_path(&self, table: &str) -> PathBuf {
        self.path.join(format!("{table}.parquet"))
    }
}

/// Create `path` (and parents) if needed and check that files can be written in it, so a
/// read-only or mistyped `--out` is refused before anything runs (root passes permission
/// bits, so only an actual write tells).
pub fn writable_dir(path: &Path) -> Result<(), SinkError> {
    let unwritable = |source| SinkError::Unwritable {
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(path).map_err(unwritable)?;
    let probe = path.join(format!(".netcopy-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(unwritable)?;
    std::fs::remove_file(&probe).map_err(unwritable)
}

/// One Parquet file being written.
pub struct TableWriter {
    writer: ArrowWriter<File>,
    schema: Arc<Schema>,
    props: WriterProperties,
    layout: Layout,
    partial: PathBuf,
    path: PathBuf,
    /// Parts closed so far (see [`parts`]), in order.
    parts: Vec<PathBuf>,
}

impl TableWriter {
    pub fn create(dir: &RunDir, table: &str, schema: Arc<Schema>) -> Result<Self, SinkError> {
        Self::create_with(dir, table, schema, ColumnSettings::default())
    }

    /// [`TableWriter::create`], with the column settings `columns`.
    pub fn create_with(
        dir: &RunDir,
        table: &str,
        schema: Arc<Schema>,
        columns: ColumnSettings<'_>,
    ) -> Result<Self, SinkError> {
        Self::create_laid_out(dir, table, schema, columns, Layout::DEFAULT)
    }

    fn create_laid_out(
        dir: &RunDir,
        table: &str,
        schema: Arc<Schema>,
        columns: ColumnSettings<'_>,
        layout: Layout,
    ) -> Result<Self, SinkError> {
        let path = dir.table_path(table);
        let partial = path.with_extension("parquet.partial");
        let props = properties(
            &[
                (keys::RUN_ID, &dir.run_id),
                (keys::VERSION, env!("CARGO_PKG_VERSION")),
                (keys::TABLE, table),
            ],
            &schema,
            columns,
            layout.group_rows,
        );
        let writer = Self::open(&partial, &schema, &props)?;
        Ok(Self {
            writer,
            schema,
            props,
            layout,
            partial,
            path,
            parts: Vec::new(),
        })
    }

    fn open(
        partial: &Path,
        schema: &Arc<Schema>,
        props: &WriterProperties,
    ) -> Result<ArrowWriter<File>, SinkError> {
        let file = File::create(partial).map_err(|source| SinkError::Io {
            path: partial.to_owned(),
            source,
        })?;
        Ok(ArrowWriter::try_new(
            file,
            schema.clone(),
            Some(props.clone()),
        )?)
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        self.writer.write(batch)?;
        if self.writer.flushed_row_groups().len() >= self.layout.part_groups {
            // Close this part under its own name and go on in a new file. The open file
            // is renamed first: creating the new one under the same name would truncate it.
            let part = parts::part_path(&self.partial, self.parts.len() + 1);
            rename(&self.partial, &part)?;
            self.parts.push(part);
            let next = Self::open(&self.partial, &self.schema, &self.props)?;
            std::mem::replace(&mut self.writer, next).close()?;
        }
        Ok(())
    }

    /// Write the footer and move the file to its final name (joining the parts, when the
    /// table was long enough to have any).
    pub fn close(self) -> Result<PathBuf, SinkError> {
        let Self {
            writer,
            partial,
            path,
            parts: mut done,
            ..
        } = self;
        writer.close()?;
        if !done.is_empty() {
            let last = parts::part_path(&partial, done.len() + 1);
            rename(&partial, &last)?;
            done.push(last);
            parts::join(&done, &partial)?;
        }
        rename(&partial, &path)?;
        Ok(path)
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), SinkError> {
    std::fs::rename(from, to).map_err(|source| SinkError::Io {
        path: to.to_owned(),
        source,
    })
}

/// Integer columns: DELTA_BINARY_PACKED leaves ZSTD a fraction of the bytes of plain
/// encoding (timestamps, ids and sizes change little from row to row). In the `sink` bench
/// it took the syscalls table from 2.8 M to 4.2 M rows/s and from 7.8 to 7.0 bytes/row.
fn delta_encodable(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Timestamp(..))
}

/// Settings of some of a table's columns, where they differ from the defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct ColumnSettings<'a> {
    /// Parquet dictionary encoding off; those of them that hold integers are delta-encoded
    /// instead.
    pub no_dictionary: &'a [&'a str],
    /// When given, min/max statistics are kept for these columns only (for every column
    /// otherwise).
    pub statistics_only: Option<&'a [&'a str]>,
}

/// The writer settings of every table.
/// ZSTD level: 1 encodes about twice as fast as 3 here for a few % more bytes.
const ZSTD_LEVEL: i32 = 1;

fn properties(
    metadata: &[(&str, &str)],
    schema: &Schema,
    columns: ColumnSettings<'_>,
    group_rows: usize,
) -> WriterProperties {
    let zstd = ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default();
    let mut builder = WriterProperties::builder();
    for column in columns.no_dictionary {
        let path = ColumnPath::from(*column);
        builder = builder.set_column_dictionary_enabled(path.clone(), false);
        if schema
            .field_with_name(column)
            .is_ok_and(|f| delta_encodable(f.data_type()))
        {
            builder = builder.set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
        }
    }
    if let Some(keep) = columns.statistics_only {
        for field in schema.fields() {
            if !keep.contains(&field.name().as_str()) {
                let path = ColumnPath::from(field.name().as_str());
                builder = builder.set_column_statistics_enabled(path, EnabledStatistics::None);
            }
        }
    }
    builder
        .set_compression(Compression::ZSTD(zstd))
        .set_dictionary_enabled(true)
        // Statistics per column chunk (row group), not per page: the writer keeps every
        // page's index entries in memory until the footer, which grew a 10-minute twocopy
        // 1K trace by about 1.7 MiB every 10 s. Readers still skip row groups by their
        // min/max.
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_offset_index_disabled(true)
        .set_max_row_group_row_count(Some(group_rows))
        .set_key_value_metadata(Some(
            metadata
                .iter()
                .map(|(k, v)| KeyValue::new((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_started_together_get_their_own_directories() {
        let parent = std::env::temp_dir().join(format!("netcopy-rundirs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&parent);
        let dirs: Vec<PathBuf> = (0..3)
            .map(|_| {
                RunDir::create_new(&parent, "stamp-onecopy", "id".into())
                    .unwrap()
                    .path
            })
            .collect();
        assert_eq!(dirs[0], parent.join("stamp-onecopy"));
        assert_eq!(dirs[1], parent.join("stamp-onecopy-2"));
        assert_eq!(dirs[2], parent.join("stamp-onecopy-3"));
        std::fs::remove_dir_all(&parent).unwrap();
    }
}
