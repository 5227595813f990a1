//! The service's calendar: the one definition of "today" behind overdue flags, date checks
//! and exports.

use chrono::{NaiveDate, Utc};

/// Today's date (UTC), as every instance and the database agree on it.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}
