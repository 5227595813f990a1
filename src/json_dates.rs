//! Timestamps and dates written to JSON exactly as chrono writes them, in one string.
//!
//! chrono serializes through `collect_str`, and serde_json's `collect_str` escapes every piece
//! the formatter writes: chrono writes a timestamp a character at a time, so each of its 20–30
//! characters went through the escaping routine and the writer on its own. The profile of a page
//! of 50 pledges (`bench/profile.sh`, callgrind) put 22% of the service's instructions there.
//! These functions format into a `String` with chrono's own routine (`to_rfc3339_opts` with the
//! options its `Serialize` uses; `NaiveDate`'s `Display`, which its `Serialize` uses) and hand
//! it over once: the same text, a tenth of the instructions. Used with `#[serde(serialize_with)]`
//! on the fields of response bodies.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serializer;

/// A timestamp as chrono's `Serialize` writes it: RFC 3339, as many fraction digits as needed
/// (none, 3, 6 or 9), `Z`.
pub fn timestamp<S: Serializer>(value: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// [`timestamp`], or `null`.
pub fn timestamp_opt<S: Serializer>(
    value: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => timestamp(value, serializer),
        None => serializer.serialize_none(),
    }
}

/// A date as chrono's `Serialize` writes it (`YYYY-MM-DD`).
pub fn date<S: Serializer>(value: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_string())
}

/// [`date`], or `null`.
pub fn date_opt<S: Serializer>(
    value: &Option<NaiveDate>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => date(value, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Ours {
        #[serde(serialize_with = "timestamp")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "timestamp_opt")]
        maybe_at: Option<DateTime<Utc>>,
        #[serde(serialize_with = "date")]
        on: NaiveDate,
        #[serde(serialize_with = "date_opt")]
        maybe_on: Option<NaiveDate>,
    }

    #[derive(Serialize)]
    struct Chrono {
        at: DateTime<Utc>,
        maybe_at: Option<DateTime<Utc>>,
        on: NaiveDate,
        maybe_on: Option<NaiveDate>,
    }

    fn both(at: DateTime<Utc>, on: NaiveDate, some: bool) -> (String, String) {
        let ours = Ours {
            at,
            maybe_at: some.then_some(at),
            on,
            maybe_on: some.then_some(on),
        };
        let chrono = Chrono {
            at,
            maybe_at: some.then_some(at),
            on,
            maybe_on: some.then_some(on),
        };
        (
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(&chrono).unwrap(),
        )
    }

    #[test]
    fn every_timestamp_and_date_is_written_as_chrono_writes_it() {
        let base = Utc.with_ymd_and_hms(2026, 12, 7, 23, 59, 59).unwrap();
        // Each fraction width chrono chooses, a leap second, and the edges of four-digit years.
        let mut cases: Vec<(DateTime<Utc>, NaiveDate)> = vec![
            (base, NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()),
            (
                base + Duration::milliseconds(120),
                NaiveDate::from_ymd_opt(1, 1, 1).unwrap(),
            ),
            (
                base + Duration::microseconds(123_456),
                NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(),
            ),
            (
                base + Duration::nanoseconds(1),
                NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap(),
            ),
            (
                Utc.with_ymd_and_hms(2016, 12, 31, 23, 59, 59).unwrap()
                    + Duration::nanoseconds(1_500_000_000),
                NaiveDate::from_ymd_opt(-1, 6, 30).unwrap(),
            ),
            (
                Utc.with_ymd_and_hms(-44, 3, 15, 12, 0, 0).unwrap(),
                NaiveDate::from_ymd_opt(999, 2, 28).unwrap(),
            ),
        ];
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_250_000_000)
            .unwrap()
            .and_utc();
        cases.push((leap, NaiveDate::from_ymd_opt(2016, 12, 31).unwrap()));
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..2_000 {
            let seconds = rng.gen_range(-62_000_000_000_i64..250_000_000_000);
            let nanos = match rng.gen_range(0..4) {
                0 => 0,
                1 => rng.gen_range(0..1_000) * 1_000_000,
                2 => rng.gen_range(0..1_000_000) * 1_000,
                _ => rng.gen_range(0..1_000_000_000),
            };
            let at = DateTime::from_timestamp(seconds, nanos).unwrap();
            cases.push((at, at.date_naive()));
        }
        for (at, on) in cases {
            for some in [true, false] {
                let (ours, chrono) = both(at, on, some);
                assert_eq!(ours, chrono, "{at:?} {on:?}");
            }
        }
    }
}
