//! Exports of the nomination list: CSV (UTF-8 with BOM so Excel shows Vietnamese correctly),
//! streamed page by page, and XLSX. Same filters and visibility as the JSON list; content
//! negotiation is shared with pledges (`crate::pledges::export::negotiate`).

use std::collections::HashMap;

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::Bytes;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::stream;
use uuid::Uuid;

use super::model::NominationRow;
use super::repo::{self, ListQuery, SortPosition};
use super::service::to_dto;
use crate::db::Databases;
use crate::db::schema::organizations;
use crate::error::{AppError, AppResult};
use crate::pledges::export::XLSX;
use crate::pledges::export::spreadsheet_safe;

const PAGE: i64 = 500;
/// An XLSX is built in memory; beyond this many rows use CSV.
const XLSX_MAX_ROWS: usize = 200_000;

const COLUMNS: [&str; 17] = [
    "id",
    "nominating_organization_id",
    "nominating_organization_name",
    "campaign_id",
    "year",
    "nominee_type",
    "nominee_name",
    "nominee_position",
    "member_count",
    "field",
    "status",
    "commendation_form",
    "decision_no",
    "decided_on",
    "submitted_at",
    "recognized_at",
    "achievements",
];

async fn organization_names(
    conn: &mut AsyncPgConnection,
    rows: &[NominationRow],
) -> AppResult<HashMap<Uuid, String>> {
    let ids: Vec<Uuid> = rows
        .iter()
        .map(|row| row.nominating_organization_id)
        .collect();
    let names: Vec<(Uuid, String)> = organizations::table
        .filter(organizations::id.eq_any(ids))
        .select((organizations::id, organizations::name))
        .load(conn)
        .await?;
    Ok(names.into_iter().collect())
}

fn cells(row: NominationRow, names: &HashMap<Uuid, String>) -> [String; 17] {
    let organization_name = names
        .get(&row.nominating_organization_id)
        .cloned()
        .unwrap_or_default();
    let dto = to_dto(row);
    let instant = |value: Option<chrono::DateTime<chrono::Utc>>| {
        value.map(|at| at.to_rfc3339()).unwrap_or_default()
    };
    let commendation = dto.commendation.clone();
    [
        dto.id.to_string(),
        dto.nominating_organization_id.to_string(),
        spreadsheet_safe(organization_name),
        dto.campaign_id.to_string(),
        dto.year.to_string(),
        dto.nominee_type.as_str().to_owned(),
        spreadsheet_safe(dto.nominee_name),
        spreadsheet_safe(dto.nominee_position.unwrap_or_default()),
        dto.member_count
            .map(|count| count.to_string())
            .unwrap_or_default(),
        dto.field,
        dto.status.as_str().to_owned(),
        commendation
            .as_ref()
            .map(|c| c.form.as_str().to_owned())
            .unwrap_or_default(),
        commendation
            .as_ref()
            .map(|c| c.decision_no.clone())
            .unwrap_or_default(),
        commendation
            .as_ref()
            .map(|c| c.decided_on.to_string())
            .unwrap_or_default(),
        instant(dto.submitted_at),
        instant(dto.recognized_at),
        dto.achievements.unwrap_or_default(),
    ]
}

/// One page of rows and the query for the next page (None: done).
async fn next_page(
    db: &Databases,
    mut query: ListQuery,
) -> AppResult<(Vec<NominationRow>, HashMap<Uuid, String>, Option<ListQuery>)> {
    let mut conn = db.read().await?;
    query.limit = PAGE;
    let mut rows = repo::list(&mut conn, &query).await?;
    let page = usize::try_from(PAGE).unwrap_or(usize::MAX);
    let more = rows.len() > page;
    rows.truncate(page);
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
                    // Headers are gone; end the stream and let the log tell why.
                    tracing::error!(?error, "CSV export failed midway");
                    None
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
            "attachment; filename=\"nominations.csv\"",
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
            "attachment; filename=\"nominations.xlsx\"",
        ))
        .body(bytes))
}
