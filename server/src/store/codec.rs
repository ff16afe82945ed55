//! What the two backends encode differently, in small types the shared SQL
//! binds and reads, so that one statement text serves both:
//!
//! - [`Time`]: integer Unix milliseconds on SQLite, `timestamptz` on
//!   PostgreSQL. [`SampleTime`]: the same, but whole seconds on SQLite
//!   (the compact rows of the largest table, see the 0005 migration).
//! - [`Int`]: reads any integer column: `INTEGER` is 64-bit on SQLite, and
//!   `SMALLINT`, `INTEGER` or `BIGINT` on PostgreSQL. Integers are bound as
//!   `i64` on both (PostgreSQL casts them on assignment).
//! - Sample outcomes are small integers ([`outcome_code`]).
//!
//! Integers that leave Rust's types on the way in or out follow one rule on
//! both backends: a latency or count is written as at most `i32::MAX` (the
//! PostgreSQL column is `INTEGER`), and a stored value read back into a
//! `u32` saturates (negative → 0, too large → `u32::MAX`).

use app::model::SampleOutcome;
use chrono::{DateTime, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Postgres, Sqlite, Type, ValueRef};

use super::StoreError;

/// A time as the backend keeps it; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Time(pub DateTime<Utc>);

/// A sample's time: whole seconds on SQLite, `timestamptz` on PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleTime(pub DateTime<Utc>);

/// Any stored integer, read as `i64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int(pub i64);

type SqliteBuffer<'q> = <Sqlite as Database>::ArgumentBuffer<'q>;
type PgBuffer<'q> = <Postgres as Database>::ArgumentBuffer<'q>;

/// Implements SQLite's side of a time codec: an `i64` made by `to` and read
/// back by `from`.
macro_rules! sqlite_integer_time {
    ($codec:ident, $to:expr, $from:expr) => {
        impl Type<Sqlite> for $codec {
            fn type_info() -> <Sqlite as Database>::TypeInfo {
                <i64 as Type<Sqlite>>::type_info()
            }

            fn compatible(ty: &<Sqlite as Database>::TypeInfo) -> bool {
                <i64 as Type<Sqlite>>::compatible(ty)
            }
        }

        impl<'q> Encode<'q, Sqlite> for $codec {
            fn encode_by_ref(&self, buf: &mut SqliteBuffer<'q>) -> Result<IsNull, BoxDynError> {
                <i64 as Encode<'q, Sqlite>>::encode(($to)(self.0), buf)
            }
        }

        impl<'r> Decode<'r, Sqlite> for $codec {
            fn decode(value: <Sqlite as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let n = <i64 as Decode<'r, Sqlite>>::decode(value)?;
                ($from)(n)
                    .map(Self)
                    .ok_or_else(|| format!("timestamp {n} out of range").into())
            }
        }
    };
}

/// Implements PostgreSQL's side of a time codec: `timestamptz` as it is.
macro_rules! postgres_timestamptz {
    ($codec:ident) => {
        impl Type<Postgres> for $codec {
            fn type_info() -> <Postgres as Database>::TypeInfo {
                <DateTime<Utc> as Type<Postgres>>::type_info()
            }
        }

        impl<'q> Encode<'q, Postgres> for $codec {
            fn encode_by_ref(&self, buf: &mut PgBuffer<'q>) -> Result<IsNull, BoxDynError> {
                <DateTime<Utc> as Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
            }
        }

        impl<'r> Decode<'r, Postgres> for $codec {
            fn decode(value: <Postgres as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                <DateTime<Utc> as Decode<'r, Postgres>>::decode(value).map(Self)
            }
        }
    };
}

sqlite_integer_time!(
    Time,
    |at: DateTime<Utc>| at.timestamp_millis(),
    DateTime::from_timestamp_millis
);
sqlite_integer_time!(SampleTime, |at: DateTime<Utc>| at.timestamp(), |s| {
    DateTime::from_timestamp(s, 0)
});
postgres_timestamptz!(Time);
postgres_timestamptz!(SampleTime);

impl Type<Sqlite> for Int {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &<Sqlite as Database>::TypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for Int {
    fn decode(value: <Sqlite as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        <i64 as Decode<'r, Sqlite>>::decode(value).map(Self)
    }
}

impl Type<Postgres> for Int {
    fn type_info() -> <Postgres as Database>::TypeInfo {
        <i64 as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &<Postgres as Database>::TypeInfo) -> bool {
        <i16 as Type<Postgres>>::compatible(ty)
            || <i32 as Type<Postgres>>::compatible(ty)
            || <i64 as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for Int {
    fn decode(value: <Postgres as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let ty = value.type_info().into_owned();
        if <i16 as Type<Postgres>>::compatible(&ty) {
            <i16 as Decode<'r, Postgres>>::decode(value).map(|v| Self(v.into()))
        } else if <i32 as Type<Postgres>>::compatible(&ty) {
            <i32 as Decode<'r, Postgres>>::decode(value).map(|v| Self(v.into()))
        } else {
            <i64 as Decode<'r, Postgres>>::decode(value).map(Self)
        }
    }
}

/// A `u32` (latency, count) as it is written: at most `i32::MAX`.
pub fn u32_to_db(value: u32) -> i64 {
    i64::from(value.min(i32::MAX.unsigned_abs()))
}

/// A stored integer read back into a `u32`, saturating.
pub fn u32_from_db(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

/// The integer stored for an outcome.
pub const fn outcome_code(outcome: SampleOutcome) -> i16 {
    match outcome {
        SampleOutcome::Up => 0,
        SampleOutcome::Degraded => 1,
        SampleOutcome::Down => 2,
    }
}

pub fn outcome_from_code(code: i64) -> Result<SampleOutcome, StoreError> {
    match code {
        0 => Ok(SampleOutcome::Up),
        1 => Ok(SampleOutcome::Degraded),
        2 => Ok(SampleOutcome::Down),
        other => Err(StoreError::Corrupt(format!("unknown outcome code {other}"))),
    }
}

/// A stored text column parsed into its enum; an unknown value is corrupt.
pub fn parse_column<T>(
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
    what: &str,
) -> Result<T, StoreError> {
    parse(value).ok_or_else(|| StoreError::Corrupt(format!("unknown {what} {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_saturate_the_same_way_on_both_backends() {
        let written = [
            (0, 0),
            (250, 250),
            (i32::MAX.unsigned_abs(), i64::from(i32::MAX)),
            (u32::MAX, i64::from(i32::MAX)),
        ];
        for (value, stored) in written {
            assert_eq!(u32_to_db(value), stored, "{value}");
        }
        let read = [
            (0, 0),
            (250, 250),
            (-1, 0),
            (i64::MIN, 0),
            (i64::from(u32::MAX), u32::MAX),
            (i64::from(u32::MAX) + 1, u32::MAX),
        ];
        for (stored, value) in read {
            assert_eq!(u32_from_db(stored), value, "{stored}");
        }
    }

    #[test]
    fn outcomes_round_trip_and_unknown_codes_are_corrupt() {
        for outcome in [
            SampleOutcome::Up,
            SampleOutcome::Degraded,
            SampleOutcome::Down,
        ] {
            let code = outcome_code(outcome);
            assert_eq!(outcome_from_code(code.into()).unwrap(), outcome);
        }
        assert!(matches!(outcome_from_code(7), Err(StoreError::Corrupt(_))));
    }
}
