//! Long tables written in parts and joined at the end, so that a long trace's memory stays
//! flat.
//!
//! The Parquet writer keeps the metadata of every row group it has flushed until it writes
//! the footer. A 10-minute twocopy 1K trace writes close to 1,000 row groups of 1 M rows,
//! and its RSS grew with them: 11% after the first minute in `cargo xtask bench --soak`,
//! and about 30 KB per row group, going by the RSS slopes of 1 M- and 4 M-row groups. So a
//! table that reaches [`Layout::part_groups`] row groups closes its file as a part and
//! starts another. At the end, [`join`] copies the parts' column chunks, bytes as they are,
//! into one file with one footer, so readers see one `NAME.parquet` whatever the length.
//! The same 240 s trace then stayed within 1 MiB of its RSS at one minute (123.3 to 124.2
//! MiB, joining included), where it had grown 2 to 3 MiB every 100 s.
//!
//! Nothing is encoded twice, but a table longer than one part is written twice: at the
//! highest call rate that is about 600 MB of copying per minute of trace, done after the
//! measurement has ended. The disk holds the table twice until the copy is complete.

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::Arc,
};

use parquet::{
    column::writer::ColumnCloseResult,
    file::{
        metadata::ParquetMetaDataReader, properties::WriterProperties, writer::SerializedFileWriter,
    },
};

use super::SinkError;

/// How a table is cut into row groups and parts.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Rows per row group. One being built costs about 6 B per row of syscalls.parquet
    /// until it is flushed.
    pub group_rows: usize,
    /// Row groups per part.
    pub part_groups: usize,
}

impl Layout {
    /// 1 M-row groups (6 MiB while one is built), 32 per part: about 20 s of the fastest
    /// trace, and 1 MiB of metadata held.
    pub const DEFAULT: Self = Self {
        group_rows: 1 << 20,
        part_groups: 32,
    };
}

/// The name of part `n` of the table being written to `partial`.
pub fn part_path(partial: &Path, n: usize) -> PathBuf {
    let mut name = partial.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Copy the row groups of `parts`, in order, into a new file at `out`, with the footer
/// metadata (the Arrow schema and netcopy's keys) of the first. The parts are deleted once
/// `out` is complete.
pub fn join(parts: &[PathBuf], out: &Path) -> Result<(), SinkError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SinkError::Io { path, source }
    };
    let mut writer: Option<SerializedFileWriter<File>> = None;
    for part in parts {
        let input = File::open(part).map_err(io(part))?;
        let metadata = ParquetMetaDataReader::new().parse_and_finish(&input)?;
        let file_meta = metadata.file_metadata();
        let w = match writer.as_mut() {
            Some(w) => w,
            None => {
                let props = WriterProperties::builder()
                    .set_key_value_metadata(file_meta.key_value_metadata().cloned())
                    .build();
                let file = File::create(out).map_err(io(out))?;
                writer.insert(SerializedFileWriter::new(
                    file,
                    file_meta.schema_descr().root_schema_ptr(),
                    Arc::new(props),
                )?)
            }
        };
        for rg in metadata.row_groups() {
            let mut rg_out = w.next_row_group()?;
            for column in rg.columns() {
                rg_out.append_column(
                    &input,
                    ColumnCloseResult {
                        bytes_written: column.compressed_size() as u64,
                        rows_written: rg.num_rows() as u64,
                        metadata: column.clone(),
                        bloom_filter: None,
                        column_index: None,
                        offset_index: None,
                    },
                )?;
            }
            rg_out.close()?;
        }
    }
    if let Some(w) = writer {
        w.close()?;
    }
    for part in parts {
        std::fs::remove_file(part).map_err(io(part))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::{
        arrow::arrow_reader::ParquetRecordBatchReaderBuilder, file::statistics::Statistics,
    };

    use super::{
        super::{ColumnSettings, RunDir, TableWriter, keys},
        Layout,
    };

    fn batch(schema: &Arc<Schema>, from: i64, rows: i64) -> RecordBatch {
        let n: Vec<i64> = (from..from + rows).collect();
        let s: Vec<Option<String>> = n
            .iter()
            .map(|v| (v % 7 != 0).then(|| format!("row {v}")))
            .collect();
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(n)),
                Arc::new(StringArray::from(s)),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_table_longer_than_a_part_reads_back_as_one_file_in_order() {
        let dir = std::env::temp_dir().join(format!("netcopy-parts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let run = RunDir {
            path: dir.clone(),
            run_id: "parts-test".into(),
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let layout = Layout {
            group_rows: 100,
            part_groups: 3,
        };
        let mut w = TableWriter::create_laid_out(
            &run,
            "t",
            schema.clone(),
            ColumnSettings {
                no_dictionary: &["n"],
                statistics_only: None,
            },
            layout,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // 15 batches of 70 rows: a part closes after every 5 (350 rows, 3 full row groups
        // and the rest), the last one right at the end.
        let mut parts_seen = Vec::new();
        for b in 0..15 {
            w.write(&batch(&schema, b * 70, 70))
                .unwrap_or_else(|e| panic!("{e}"));
            parts_seen.push(w.parts.len());
        }
        assert_eq!(parts_seen, [0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3]);
        assert!(w.parts.iter().all(|p| p.exists()), "{:?}", w.parts);
        let path = w.close().unwrap_or_else(|e| panic!("{e}"));

        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names, ["t.parquet"], "the parts are gone");

        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            reader.schema().fields(),
            schema.fields(),
            "the Arrow schema survives"
        );
        let meta = reader.metadata().clone();
        let kv = meta
            .file_metadata()
            .key_value_metadata()
            .cloned()
            .unwrap_or_default();
        let value = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.clone());
        assert_eq!(value(keys::TABLE).as_deref(), Some("t"));
        assert_eq!(value(keys::RUN_ID).as_deref(), Some("parts-test"));
        // 3 x (3 full row groups and one of 50): 12 row groups, in order, each with its
        // statistics.
        let groups: Vec<(i64, Option<(i64, i64)>)> = meta
            .row_groups()
            .iter()
            .map(|rg| {
                let minmax = match rg.column(0).statistics() {
                    Some(Statistics::Int64(s)) => {
                        s.min_opt().zip(s.max_opt()).map(|(a, b)| (*a, *b))
                    }
                    _ => None,
                };
                (rg.num_rows(), minmax)
            })
            .collect();
        assert_eq!(groups.len(), 12, "{groups:?}");
        let mut next = 0;
        for (rows, minmax) in &groups {
            assert_eq!(*minmax, Some((next, next + rows - 1)), "{groups:?}");
            next += rows;
        }
        assert_eq!(next, 1050);

        let mut n = Vec::new();
        let mut s = Vec::new();
        for b in reader.build().unwrap_or_else(|e| panic!("{e}")) {
            let b = b.unwrap_or_else(|e| panic!("{e}"));
            let col = |i: usize| b.column(i).clone();
            let ns = col(0);
            let ns = ns
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap_or_else(|| panic!("n"));
            let ss = col(1);
            let ss = ss
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap_or_else(|| panic!("s"));
            n.extend(ns.values().iter().copied());
            s.extend((0..ss.len()).map(|i| ss.is_valid(i).then(|| ss.value(i).to_owned())));
        }
        let whole = batch(&schema, 0, 1050);
        let want_s = whole
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap_or_else(|| panic!("s"));
        assert_eq!(n, (0..1050).collect::<Vec<i64>>());
        assert_eq!(
            s,
            (0..1050)
                .map(|i| want_s.is_valid(i).then(|| want_s.value(i).to_owned()))
                .collect::<Vec<_>>()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
