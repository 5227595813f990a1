//! The one export of every list: CSV (UTF-8 with BOM, so Excel shows Vietnamese correctly) and
//! XLSX, with the list's own filters and visibility, page by page in constant memory.
//!
//! A resource describes its columns and how to fetch one page of typed [`Cell`]s ([`Export`]);
//! everything else is here, written once:
//! - **Formula injection** (OWASP CSV injection): every text cell of both formats goes through
//!   [`spreadsheet_safe`]; numbers, dates and booleans are typed cells, never text to run.
//! - **Failure midway is an error, never a short file.** The first page is fetched before the
//!   answer starts, so an early failure is a problem+json; a CSV that fails later ends with a
//!   broken stream (the connection is cut before the last chunk); an XLSX is only sent once it
//!   is complete.
//! - **Memory and workers.** CSV streams page by page. An XLSX is written by a blocking thread
//!   in rust_xlsxwriter's constant-memory mode (rows go to a temporary file as they are
//!   written), fed page by page through a bounded channel, so the async workers never build a
//!   workbook and a 100 000-row export holds a few pages in memory until the finished file
//!   is zipped. At most [`XLSX_BUILDS`] workbooks are built or being sent at once per instance;
//!   a request that cannot start one within [`XLSX_WAIT`] gets 503 with `Retry-After`.
//! - **What an officer expects in Excel or LibreOffice:** numbers as numbers, dates as dates,
//!   a named sheet, a bold frozen header row with an autofilter, widths that fit.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::stream;
use tokio::sync::Semaphore;

use crate::db::Databases;
use crate::error::{AppError, AppResult, ProblemCode};

pub const CSV: &str = "text/csv";
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// Rows fetched per round trip.
pub const PAGE: i64 = 500;
/// Workbooks one instance builds at the same time.
pub const XLSX_BUILDS: usize = 2;
/// How long a request waits for one of them: longer than a 100 000-row build takes here
/// (≈ 20 s on 2 shared cores, `bench/exports.sh`), so a third concurrent export queues
/// instead of failing.
pub const XLSX_WAIT: Duration = Duration::from_secs(30);
/// Size of the chunks a finished workbook is sent in.
const XLSX_CHUNK: usize = 64 * 1024;
/// An XLSX beyond this many rows is refused: ask for CSV (Excel's own limit is 1 048 575).
pub const XLSX_MAX_ROWS: u32 = 200_000;
/// Pages the database side may fetch ahead of the XLSX writer.
const PAGES_AHEAD: usize = 2;

/// The representation the client asked for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Xlsx,
}

pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Json;
    };
    let wants = |media: &str| {
        accept.split(',').any(|item| {
            item.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(media))
        })
    };
    if wants(XLSX) {
        Format::Xlsx
    } else if wants(CSV) {
        Format::Csv
    } else {
        Format::Json
    }
}

/// One value of an exported row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Integer(i64),
    Number(f64),
    Date(NaiveDate),
    Instant(DateTime<Utc>),
    Bool(bool),
    Empty,
}

impl Cell {
    /// Text, or empty when absent.
    pub fn text(value: Option<impl Into<String>>) -> Self {
        value.map_or(Self::Empty, |text| Self::Text(text.into()))
    }

    pub fn number(value: Option<f64>) -> Self {
        value.map_or(Self::Empty, Self::Number)
    }

    pub fn integer(value: Option<impl Into<i64>>) -> Self {
        value.map_or(Self::Empty, |number| Self::Integer(number.into()))
    }

    pub fn date(value: Option<NaiveDate>) -> Self {
        value.map_or(Self::Empty, Self::Date)
    }

    pub fn instant(value: Option<DateTime<Utc>>) -> Self {
        value.map_or(Self::Empty, Self::Instant)
    }

    /// The CSV field: typed values in their ISO forms, text neutralized.
    fn csv_field(&self) -> String {
        match self {
            Self::Text(text) => spreadsheet_safe(text),
            Self::Integer(number) => number.to_string(),
            Self::Number(number) => number.to_string(),
            Self::Date(date) => date.to_string(),
            Self::Instant(at) => at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            Self::Bool(value) => value.to_string(),
            Self::Empty => String::new(),
        }
    }
}

/// Text that a spreadsheet would run as a formula is prefixed with an apostrophe (OWASP CSV
/// injection): `=`, `+`, `-`, `@`, tab and carriage return at the start.
pub fn spreadsheet_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// A column: its header and its width in Excel character units.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub width: f64,
}

impl Column {
    pub const fn new(name: &'static str, width: f64) -> Self {
        Self { name, width }
    }

    /// The width the sheet gives the column: never narrower than its bold header plus the
    /// autofilter's drop-down button, which would otherwise cover the header's last letters.
    pub fn fitted_width(&self) -> f64 {
        let header = u32::try_from(self.name.chars().count()).unwrap_or(u32::MAX);
        self.width.max(f64::from(header) + HEADER_ROOM)
    }
}

/// Character units a header needs beyond its letters: bold text and the filter button.
const HEADER_ROOM: f64 = 3.0;

/// One page of an export: its rows as cells, and the query of the next page (`None`: done).
pub type Page<Q> = (Vec<Vec<Cell>>, Option<Q>);

/// What a resource tells the export about itself.
pub trait Export: Send + Sync + 'static {
    /// File name without extension (`pledges`).
    const FILE_NAME: &'static str;
    /// The sheet's name in the workbook.
    const SHEET_NAME: &'static str;
    const COLUMNS: &'static [Column];
    /// A validated list query, with its position.
    type Query: Send + 'static;

    /// The rows of one page (at most [`PAGE`]) after the query's position, each as many cells
    /// as there are columns, and the query of the next page (`None`: that was the last).
    fn page(
        db: &Databases,
        query: Self::Query,
    ) -> impl Future<Output = AppResult<Page<Self::Query>>> + Send;
}

/// Bounds the workbooks an instance builds at once.
#[derive(Clone)]
pub struct ExportSlots(Arc<Semaphore>);

impl Default for ExportSlots {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(XLSX_BUILDS)))
    }
}

/// Answers the export of `query` in `format` (CSV or XLSX).
pub async fn respond<E: Export>(
    db: Databases,
    slots: &ExportSlots,
    query: E::Query,
    format: Format,
) -> AppResult<HttpResponse> {
    match format {
        Format::Xlsx => xlsx::<E>(db, slots, query).await,
        Format::Csv | Format::Json => csv::<E>(db, query).await,
    }
}

fn csv_line(cells: &[Cell]) -> Vec<u8> {
    let mut writer = ::csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = writer.write_record(cells.iter().map(Cell::csv_field));
    writer.into_inner().unwrap_or_default()
}

fn csv_lines(rows: Vec<Vec<Cell>>) -> Vec<u8> {
    rows.iter().flat_map(|row| csv_line(row)).collect()
}

fn attachment(file_name: &str, extension: &str) -> (header::HeaderName, String) {
    (
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{file_name}.{extension}\""),
    )
}

async fn csv<E: Export>(db: Databases, query: E::Query) -> AppResult<HttpResponse> {
    let (rows, next) = E::page(&db, query).await?;
    let mut head = b"\xEF\xBB\xBF".to_vec();
    let header: Vec<Cell> = E::COLUMNS
        .iter()
        .map(|column| Cell::Text(column.name.to_owned()))
        .collect();
    head.extend(csv_line(&header));
    head.extend(csv_lines(rows));
    let rest = stream::unfold(next, move |next| {
        let db = db.clone();
        async move {
            let query = next?;
            match E::page(&db, query).await {
                Ok((rows, next)) => Some((
                    Ok::<_, actix_web::Error>(Bytes::from(csv_lines(rows))),
                    next,
                )),
                Err(error) => {
                    // Headers are gone: fail the stream so the client sees a broken download.
                    tracing::error!(?error, export = E::FILE_NAME, "CSV export failed midway");
                    Some((
                        Err(actix_web::error::ErrorServiceUnavailable(
                            "export failed midway",
                        )),
                        None,
                    ))
                }
            }
        }
    });
    let body =
        futures_util::StreamExt::chain(stream::once(async move { Ok(Bytes::from(head)) }), rest);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header(attachment(E::FILE_NAME, "csv"))
        .streaming(body))
}

fn xlsx_error(error: rust_xlsxwriter::XlsxError) -> AppError {
    AppError::internal(anyhow::anyhow!("xlsx: {error}"))
}

async fn xlsx<E: Export>(
    db: Databases,
    slots: &ExportSlots,
    query: E::Query,
) -> AppResult<HttpResponse> {
    let slot = tokio::time::timeout(XLSX_WAIT, slots.0.clone().acquire_owned())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            AppError::unavailable("every spreadsheet export slot is busy; retry shortly")
                .with_header(header::RETRY_AFTER, "5")
        })?;
    let (pages, incoming) = std::sync::mpsc::sync_channel::<Vec<Vec<Cell>>>(PAGES_AHEAD);
    let writer = tokio::task::spawn_blocking(move || write_workbook::<E>(&incoming));
    let mut next = Some(query);
    let mut rows: u32 = 0;
    let fed: AppResult<()> = async {
        while let Some(query) = next {
            let (page, following) = E::page(&db, query).await?;
            rows = rows.saturating_add(u32::try_from(page.len()).unwrap_or(u32::MAX));
            if rows > XLSX_MAX_ROWS {
                return Err(AppError::bad_request(
                    ProblemCode::ExportTooLarge,
                    format!(
                        "more than {XLSX_MAX_ROWS} rows for XLSX; narrow the filters or ask for text/csv"
                    ),
                ));
            }
            // The writer works while the next page is fetched; a full channel waits for it
            // without holding an async worker.
            let sender = pages.clone();
            tokio::task::spawn_blocking(move || sender.send(page))
                .await
                .map_err(AppError::internal)?
                .map_err(|_| AppError::internal(anyhow::anyhow!("xlsx writer stopped")))?;
            next = following;
        }
        Ok(())
    }
    .await;
    // Closing the channel ends the workbook; on failure the writer's work is thrown away.
    drop(pages);
    let built = Bytes::from(writer.await.map_err(AppError::internal)??);
    fed?;
    // The slot is held until the last chunk is taken, so finished workbooks waiting for slow
    // clients count against the bound too.
    let chunks: Vec<Bytes> = (0..built.len())
        .step_by(XLSX_CHUNK)
        .map(|start| built.slice(start..built.len().min(start + XLSX_CHUNK)))
        .collect();
    let body = futures_util::StreamExt::chain(
        stream::iter(chunks.into_iter().map(Ok::<_, actix_web::Error>)),
        stream::once(async move {
            drop(slot);
            Ok(Bytes::new())
        }),
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, XLSX))
        .insert_header(attachment(E::FILE_NAME, "xlsx"))
        .streaming(body))
}

/// Builds the workbook from the pages received until the channel closes (blocking thread).
fn write_workbook<E: Export>(
    pages: &std::sync::mpsc::Receiver<Vec<Vec<Cell>>>,
) -> AppResult<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut workbook = Workbook::new();
    let sheet = workbook
        .add_worksheet_with_constant_memory()
        .map_err(xlsx_error)?;
    sheet.set_name(E::SHEET_NAME).map_err(xlsx_error)?;
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let instant = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let last_column = u16::try_from(E::COLUMNS.len().saturating_sub(1)).unwrap_or(0);
    for (index, column) in E::COLUMNS.iter().enumerate() {
        let index = u16::try_from(index).unwrap_or(u16::MAX);
        sheet
            .set_column_width(index, column.fitted_width())
            .map_err(xlsx_error)?;
        sheet
            .write_string_with_format(0, index, column.name, &bold)
            .map_err(xlsx_error)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(xlsx_error)?;
    let mut line: u32 = 1;
    while let Ok(page) = pages.recv() {
        for row in page {
            for (index, cell) in row.iter().enumerate() {
                let index = u16::try_from(index).unwrap_or(u16::MAX);
                match cell {
                    Cell::Text(text) => sheet.write_string(line, index, spreadsheet_safe(text)),
                    Cell::Integer(number) => {
                        // Excel numbers are doubles; ids and counts here stay far below 2^53.
                        #[allow(clippy::cast_precision_loss)]
                        let number = *number as f64;
                        sheet.write_number(line, index, number)
                    }
                    Cell::Number(number) => sheet.write_number(line, index, *number),
                    Cell::Date(day) => sheet.write_datetime_with_format(line, index, day, &date),
                    Cell::Instant(at) => {
                        sheet.write_datetime_with_format(line, index, at.naive_utc(), &instant)
                    }
                    Cell::Bool(value) => sheet.write_boolean(line, index, *value),
                    Cell::Empty => continue,
                }
                .map_err(xlsx_error)?;
            }
            line += 1;
        }
    }
    sheet
        .autofilter(0, 0, line.saturating_sub(1).max(1), last_column)
        .map_err(xlsx_error)?;
    workbook.save_to_buffer().map_err(xlsx_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_formula_trigger_is_neutralized_and_plain_text_is_kept() {
        for dangerous in ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"] {
            assert_eq!(spreadsheet_safe(dangerous), format!("'{dangerous}"));
        }
        assert_eq!(spreadsheet_safe("Xã Mỹ Hòa"), "Xã Mỹ Hòa");
        assert_eq!(
            Cell::Text("=HYPERLINK(\"x\")".into()).csv_field(),
            "'=HYPERLINK(\"x\")"
        );
        // Negative numbers are numbers, not text: they are not prefixed.
        assert_eq!(Cell::Number(-2.5).csv_field(), "-2.5");
    }

    #[test]
    fn accept_picks_the_format() {
        assert_eq!(negotiate(None), Format::Json);
        assert_eq!(negotiate(Some("text/csv; q=1")), Format::Csv);
        assert_eq!(negotiate(Some(&format!("text/csv, {XLSX}"))), Format::Xlsx);
        assert_eq!(negotiate(Some("application/json")), Format::Json);
    }
}
