//! The kinds of column syscalls.parquet has: how each Rust value type becomes Arrow fields
//! and arrays, a column at a time. The table itself, one line per column, is in `super`.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, ArrowPrimitiveType, BooleanArray, DictionaryArray, PrimitiveArray, StringArray,
    types::{Int32Type, Int64Type, TimestampNanosecondType, UInt32Type, UInt64Type},
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
///
/// A batch is built a column at a time from the rows kept for it: one tight loop per
/// column, instead of appending every row to every column's builder as it arrives (that
/// took more than half of the collector's time at 1K).
pub trait Column: Sized {
    /// Dictionary-encoded strings: Parquet's own dictionary encoding stays on for these only.
    const DICTIONARY: bool = false;
    /// The Arrow fields of the column named `name`.
    fn fields(name: &'static str) -> Vec<Field>;
    /// The arrays of a batch of `rows` rows, where `value(i)` is row `i`'s value.
    fn arrays(
        rows: usize,
        value: impl Fn(usize) -> Self,
        batch: &Batch<'_>,
        out: &mut Vec<ArrayRef>,
    ) -> Result<(), SinkError>;
}

/// Plain columns: Rust type => data type, nullable, what makes a batch's array.
macro_rules! primitive {
    ($($t:ty => $dt:expr, $nullable:expr, $array:expr;)+) => {$(
        impl Column for $t {
            fn fields(name: &'static str) -> Vec<Field> {
                vec![Field::new(name, $dt, $nullable)]
            }
            fn arrays(
                rows: usize,
                value: impl Fn(usize) -> Self,
                _: &Batch<'_>,
                out: &mut Vec<ArrayRef>,
            ) -> Result<(), SinkError> {
                out.push(Arc::new($array(rows, value)));
                Ok(())
            }
        }
    )+};
}

primitive! {
    u32 => DataType::UInt32, false, values::<UInt32Type>;
    u64 => DataType::UInt64, false, values::<UInt64Type>;
    i32 => DataType::Int32, false, values::<Int32Type>;
    i64 => DataType::Int64, false, values::<Int64Type>;
    Option<u64> => DataType::UInt64, true, nullable::<UInt64Type>;
    Option<i32> => DataType::Int32, true, nullable::<Int32Type>;
    bool => DataType::Boolean, false, booleans;
    Utc => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false, utc;
}

/// A column of `rows` values, none of them null.
#[inline(always)]
fn values<P: ArrowPrimitiveType>(
    rows: usize,
    value: impl Fn(usize) -> P::Native,
) -> PrimitiveArray<P> {
    PrimitiveArray::from_iter_values((0..rows).map(value))
}

/// A nullable column of `rows` values, built the cheapest way its batch allows: most of
/// these columns are null in every row (a value this host does not measure) or in none.
#[inline(always)]
fn nullable<P: ArrowPrimitiveType>(
    rows: usize,
    value: impl Fn(usize) -> Option<P::Native>,
) -> PrimitiveArray<P> {
    let nulls = (0..rows).filter(|&i| value(i).is_none()).count();
    if nulls == rows {
        PrimitiveArray::new_null(rows)
    } else if nulls == 0 {
        values(rows, |i| value(i).unwrap_or_default())
    } else {
        PrimitiveArray::from_iter((0..rows).map(value))
    }
}

/// A column of `rows` booleans.
#[inline(always)]
fn booleans(rows: usize, value: impl Fn(usize) -> bool) -> BooleanArray {
    BooleanArray::from((0..rows).map(value).collect::<Vec<bool>>())
}

/// Wall-clock ns since the epoch, a UTC timestamp column.
pub struct Utc(pub i64);

/// A column of `rows` wall-clock times.
#[inline(always)]
fn utc(rows: usize, value: impl Fn(usize) -> Utc) -> PrimitiveArray<TimestampNanosecondType> {
    values(rows, |i| value(i).0).with_timezone("UTC")
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
    const DICTIONARY: bool = true;
    fn fields(name: &'static str) -> Vec<Field> {
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        vec![Field::new(name, dict, false)]
    }
    fn arrays(
        rows: usize,
        value: impl Fn(usize) -> Self,
        batch: &Batch<'_>,
        out: &mut Vec<ArrayRef>,
    ) -> Result<(), SinkError> {
        let array = DictionaryArray::<Int32Type>::try_new(
            values::<Int32Type>(rows, |i| value(i).0),
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
    fn fields(_: &'static str) -> Vec<Field> {
        exact_columns()
            .map(|name| Field::new(name, DataType::UInt64, true))
            .collect()
    }
    fn arrays(
        rows: usize,
        value: impl Fn(usize) -> Self,
        _: &Batch<'_>,
        out: &mut Vec<ArrayRef>,
    ) -> Result<(), SinkError> {
        // Outside the exact tier every value of every one of these columns is null: one
        // pass over the rows says so, instead of two per column.
        if (0..rows).all(|i| value(i).0.iter().all(Option::is_none)) {
            for _ in 0..EXACT_FNS {
                out.push(Arc::new(PrimitiveArray::<UInt64Type>::new_null(rows)));
            }
            return Ok(());
        }
        for f in 0..EXACT_FNS {
            out.push(Arc::new(nullable::<UInt64Type>(rows, |i| value(i).0[f])));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;

    use super::*;

    #[test]
    fn a_nullable_column_keeps_its_values_and_nulls_whichever_way_it_is_built() {
        let cases: [&[Option<u64>]; 4] = [
            &[None, None, None],
            &[Some(0), Some(7), Some(u64::MAX)],
            &[Some(3), None, Some(0), None],
            &[],
        ];
        for values in cases {
            let array = nullable::<UInt64Type>(values.len(), |i| values[i]);
            let back: Vec<Option<u64>> = array.iter().collect();
            assert_eq!(back, values);
            let nulls = values.iter().filter(|v| v.is_none()).count();
            assert_eq!(array.null_count(), nulls, "{values:?}");
        }
    }
}
