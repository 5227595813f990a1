//! Exports of the pledge list: CSV (UTF-8 with BOM so Excel shows Vietnamese correctly),
//! streamed page by page, and XLSX. Same filters and visibility as the JSON list.

use std::collections::HashMap;

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::Bytes;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::stream;
use uuid::Uuid;

use super::model::PledgeRow;
use super::repo::{self, ListQuery, SortPosition};
use super::service::to_dto;
use crate::db::Databases;
use crate::db::schema::organizations;
use crate::error::{AppError, AppResult};

pub const CSV: &str = "text/csv";
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PAGE: i64 = 500;
/// An XLSX is built in memory; beyond this many rows use CSV.
const XLSX_MAX_ROWS: usize = 200_000;

const COLUMNS: [&str; 18] = [
    "id",
    "organization_id",
    "organization_name",
    "campaign_id",
    "year",
    "kind",
    "field",
    "title",
    "title_name",
    "target_value",
    "target_unit",
    "deadline",
    "status",
    "result",
    "progress_percent",
    "current_value",
    "last_reported_on",
    "overdue",
];

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

async fn organization_names(
    conn: &mut AsyncPgConnection,
    rows: &[PledgeRow],
) -> AppResult<HashMap<Uuid, String>> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.organization_id).collect();
    let names: Vec<(Uuid, String)> = organizations::table
        .filter(organizations::id.eq_any(ids))
        .select((organizations::id, organizations::name))
        .load(conn)
        .await?;
    Ok(names.into_iter().collect())
}

/// Text that a spreadsheet would run as a formula is prefixed with an apostrophe (OWASP CSV
/// injection); Excel shows the text as typed.
pub fn spreadsheet_safe(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

fn cells(row: PledgeRow, names: &HashMap<Uuid, String>) -> [String; 18] {
    let organization_name =
        spreadsheet_safe(names.get(&row.organization_id).cloned().unwrap_or_default());
    let dto = to_dto(row);
    let number = |value: Option<f64>| value.map(|v| v.to_string()).unwrap_or_default();
    [
        dto.id.to_string(),
        dto.organization_id.to_string(),
        organization_name,
        dto.campaign_id.to_string(),
        dto.year.to_string(),
        dto.kind.as_str().to_owned(),
        dto.field,
        spreadsheet_safe(dto.title),
        spreadsheet_safe(dto.title_name.unwrap_or_default()),
        number(dto.target_value),
        dto.target_unit.unwrap_or_default(),
        dto.deadline.to_string(),
        dto.status.as_str().to_owned(),
        dto.result
            .map(|result| result.as_str().to_owned())
            .unwrap_or_default(),
        number(dto.progress_percent),
        number(dto.current_value),
        dto.last_reported_on
            .map(|date| date.to_string())
            .unwrap_or_default(),
        dto.overdue.to_string(),
    ]
}

/// One page of rows and the query for the next page (None: done).
async fn next_page(
    db: &Databases,
    mut query: ListQuery,
) -> AppResult<(Vec<PledgeRow>, HashMap<Uuid, String>, Option<ListQuery>)> {
    let mut conn = db.read().await?;
    query.limit = PAGE;
    let mut rows = repo::list(&mut conn, &query).await?;
    let more = rows.len() > usize::try_from(PAGE).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(PAGE).unwrap_or(usize::MAX));
    let names = organization_names(&mut conn, &rows).await?;
    let next = match (more, rows.last()) {
        (true, Some(last)) => {
            query.after = Some(SortPosition::of(query.sort.0, last));
            Some(query)
        }
        _ => None,
    };
    Ok((rows, names, next))
}

fn csv_line(fields: &[String]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = writer.write_record(fields);
    writer.into_inner().unwrap_or_default()
}

/// Streams the CSV: the first page is fetched before answering, so a failure is a problem.
pub async fn csv_response(db: Databases, query: ListQuery) -> AppResult<HttpResponse> {
    let (rows, names, next) = next_page(&db, query).await?;
    let mut head = b"\xEF\xBB\xBF".to_vec();
    head.extend(csv_line(&COLUMNS.map(str::to_owned)));
    for row in rows {
        head.extend(csv_line(&cells(row, &names)));
    }
    let rest = stream::unfold(next, move |next| {
        let db = db.clone();
        async move {
            let query = next?;
            match next_page(&db, query).await {
                Ok((rows, names, next)) => {
                    let mut chunk = Vec::new();
                    for row in rows {
                        chunk.extend(csv_line(&cells(row, &names)));
                    }
                    Some((Ok::<_, actix_web::Error>(Bytes::from(chunk)), next))
                }
                Err(error) => {
                    // Headers are gone: fail the stream (the connection is cut before the last
                    // chunk) so the client sees a broken download, never a silently short file.
                    tracing::error!(?error, "CSV export failed midway");
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
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"pledges.csv\"",
        ))
        .streaming(body))
}

/// Builds the XLSX workbook.
pub async fn xlsx_response(db: Databases, query: ListQuery) -> AppResult<HttpResponse> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let xlsx_error =
        |error: rust_xlsxwriter::XlsxError| AppError::internal(anyhow::anyhow!("xlsx: {error}"));
    for (column, name) in COLUMNS.iter().enumerate() {
        sheet
            .write_with_format(0, u16::try_from(column).unwrap_or(0), *name, &bold)
            .map_err(xlsx_error)?;
    }
    let mut next = Some(query);
    let mut line: u32 = 1;
    while let Some(query) = next {
        let (rows, names, following) = next_page(&db, query).await?;
        for row in rows {
            for (column, value) in cells(row, &names).iter().enumerate() {
                sheet
                    .write(line, u16::try_from(column).unwrap_or(0), value.as_str())
                    .map_err(xlsx_error)?;
            }
            line += 1;
        }
        if usize::try_from(line).unwrap_or(usize::MAX) > XLSX_MAX_ROWS {
            return Err(AppError::bad_request(
                "invalid_query",
                "too many rows for XLSX; narrow the filters or ask for text/csv",
            ));
        }
        next = following;
    }
    sheet.autofit();
    let bytes = workbook.save_to_buffer().map_err(xlsx_error)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, XLSX))
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"pledges.xlsx\"",
        ))
        .body(bytes))
}
