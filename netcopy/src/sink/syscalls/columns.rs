//! The kinds of column syscalls.parquet has: how each Rust value type becomes Arrow fields,
//! builders and arrays. The table itself, one line per column, is in `super`.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, DictionaryArray, Int32Array, StringArray,
    builder::{
        BooleanBuilder, Int32Builder, Int64Builder, TimestampNanosecondBuilder, UInt32Builder,
        UInt64Builder,
    },
    types::Int32Type,
};
use arrow_schema::{DataType, Field, TimeUnit};
use netcopy_common::exact::{EXACT_FNS, TIMED};

use crate::sink::SinkError;

/// What finishing a batch's columns needs besides their values.
pub struct Batch<'a> {
    pub run_id: &'a str,
    /// The `comm` column's values so far, keyed by first sight.
    pub comms: &'a [String],
}

/// A value type of one column (or, for [`Exact`], a group of columns).
pub trait Column: Sized {
    type Builder: Default;
    /// Dictionary-encoded strings: Parquet's own dictionary encoding stays on for these only.
    const DICTIONARY: bool = false;
    /// The Arrow fields of the column named `name`.
    fn fields(name: &'static str) -> Vec<Field>;
    fn append(b: &mut Self::Builder, v: Self);
    /// Make an empty builder (a new one, or one just finished) room for `rows` rows, so a
    /// batch fills without the builder growing.
    fn reserve(b: &mut Self::Builder, rows: usize);
    fn finish(
        b: &mut Self::Builder,
        batch: &Batch<'_>,
        out: &mut Vec<ArrayRef>,
    ) -> Result<(), SinkError>;
}

/// Plain Arrow primitives: Rust type => builder, data type, nullable, the builder's append.
macro_rules! primitive {
    ($($t:ty => $builder:ty, $dt:expr, $nullable:expr, $append:ident;)+) => {$(
        impl Column for $t {
            type Builder = $builder;
            fn fields(name: &'static str) -> Vec<Field> {
                vec![Field::new(name, $dt, $nullable)]
            }
            #[inline(always)]
            fn append(b: &mut Self::Builder, v: Self) {
                b.$append(v);
            }
            fn reserve(b: &mut Self::Builder, rows: usize) {
                *b = <$builder>::with_capacity(rows);
            }
            fn finish(b: &mut Self::Builder, _: &Batch<'_>, out: &mut Vec<ArrayRef>) -> Result<(), SinkError> {
                out.push(Arc::new(b.finish()));
                Ok(())
            }
        }
    )+};
}

primitive! {
    u32 => UInt32Builder, DataType::UInt32, false, append_value;
    u64 => UInt64Builder, DataType::UInt64, false, append_value;
    i32 => Int32Builder, DataType::Int32, false, append_value;
    i64 => Int64Builder, DataType::Int64, false, append_value;
    bool => BooleanBuilder, DataType::Boolean, false, append_value;
    Option<u64> => UInt64Builder, DataType::UInt64, true, append_option;
    Option<i32> => Int32Builder, DataType::Int32, true, append_option;
}

/// Wall-clock ns since the epoch, a UTC timestamp column.
pub struct Utc(pub i64);

impl Column for Utc {
    type Builder = TimestampNanosecondBuilder;
    fn fields(name: &'static str) -> Vec<Field> {
        let utc = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        vec![Field::new(name, utc, false)]
    }
    #[inline(always)]
    fn append(b: &mut Self::Builder, v: Self) {
        b.append_value(v.0);
    }
    fn reserve(b: &mut Self::Builder, rows: usize) {
        *b = TimestampNanosecondBuilder::with_capacity(rows);
    }
    fn finish(
        b: &mut Self::Builder,
        _: &Batch<'_>,
        out: &mut Vec<ArrayRef>,
    ) -> Result<(), SinkError> {
        out.push(Arc::new(b.finish().with_timezone("UTC")));
        Ok(())
    }
}

/// The strings a dictionary column takes its values from.
pub trait Values {
    fn values(batch: &Batch<'_>) -> Vec<String>;
}

/// A key into the fixed values `V` of a dictionary column. Building keys directly spares
/// hashing a string per row.
pub struct Key<V>(pub i32, pub std::marker::PhantomData<V>);

impl<V> Key<V> {
    #[inline(always)]
    pub fn of(i: i32) -> Self {
        Self(i, std::marker::PhantomData)
    }
}

impl<V: Values> Column for Key<V> {
    type Builder = Vec<i32>;
    const DICTIONARY: bool = true;
    fn fields(name: &'static str) -> Vec<Field> {
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        vec![Field::new(name, dict, false)]
    }
    #[inline(always)]
    fn append(b: &mut Self::Builder, v: Self) {
        b.push(v.0);
    }
    fn reserve(b: &mut Self::Builder, rows: usize) {
        b.reserve(rows);
    }
    fn finish(
        b: &mut Self::Builder,
        batch: &Batch<'_>,
        out: &mut Vec<ArrayRef>,
    ) -> Result<(), SinkError> {
        let array = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(std::mem::take(b)),
            Arc::new(StringArray::from(V::values(batch))),
        )?;
        out.push(Arc::new(array));
        Ok(())
    }
}

/// The exact tier's ns per timed function: one nullable column per function of
/// [`TIMED`], `exact_<function>_ns`.
pub struct Exact(pub [Option<u64>; EXACT_FNS]);

/// Names of the exact tier's columns, one per timed function.
pub fn exact_columns() -> impl Iterator<Item = String> {
    TIMED
        .iter()
        .map(|t| format!("exact_{}_ns", t.function.trim_start_matches('_')))
}

impl Column for Exact {
    type Builder = [UInt64Builder; EXACT_FNS];
    fn fields(_: &'static str) -> Vec<Field> {
        exact_columns()
            .map(|name| Field::new(name, DataType::UInt64, true))
            .collect()
    }
    #[inline(always)]
    fn append(b: &mut Self::Builder, v: Self) {
        for (column, ns) in b.iter_mut().zip(v.0) {
            column.append_option(ns);
        }
    }
    fn reserve(b: &mut Self::Builder, rows: usize) {
        for column in b {
            *column = UInt64Builder::with_capacity(rows);
        }
    }
    fn finish(
        b: &mut Self::Builder,
        _: &Batch<'_>,
        out: &mut Vec<ArrayRef>,
    ) -> Result<(), SinkError> {
        for column in b {
            out.push(Arc::new(column.finish()));
        }
        Ok(())
    }
}
