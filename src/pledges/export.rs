//! The pledge list as a spreadsheet: its columns and pages for the one export (`crate::export`).

use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::dto::{PledgeFilter, PledgePage};
use super::model::PledgeRow;
use super::repo::{self, ListQuery};
use super::service::to_dto;
use crate::export::{Cell, Column};
use crate::listing::{Listed, Position};

pub struct PledgeExport;

impl Listed for PledgeExport {
    const FILE_NAME: &'static str = "pledges";
    const SHEET_NAME: &'static str = "Đăng ký thi đua";
    const COLUMNS: &'static [Column] = &[
        Column::new("id", 38.0),
        Column::new("organization_id", 38.0),
        Column::new("organization_name", 28.0),
        Column::new("campaign_id", 38.0),
        Column::new("year", 7.0),
        Column::new("kind", 8.0),
        Column::new("field", 18.0),
        Column::new("title", 48.0),
        Column::new("title_name", 36.0),
        Column::new("target_value", 12.0),
        Column::new("target_unit", 12.0),
        Column::new("deadline", 12.0),
        Column::new("status", 11.0),
        Column::new("result", 18.0),
        Column::new("progress_percent", 10.0),
        Column::new("current_value", 12.0),
        Column::new("last_reported_on", 12.0),
        Column::new("overdue", 9.0),
    ];
    type Filter = PledgeFilter;
    type Row = PledgeRow;
    type JsonPage = PledgePage;

    async fn fetch(conn: &mut AsyncPgConnection, query: &ListQuery) -> QueryResult<Vec<PledgeRow>> {
        repo::list(conn, query).await
    }

    fn position(key: &str, row: &PledgeRow) -> Position {
        match key {
            "updated_at" => Position::UpdatedAt(row.updated_at, row.id),
            "deadline" => Position::Deadline(row.deadline, row.id),
            _ => Position::CreatedAt(row.created_at, row.id),
        }
    }

    fn organization(row: &PledgeRow) -> Uuid {
        row.organization_id
    }

    fn cells(row: PledgeRow, name: Option<String>) -> Vec<Cell> {
        let dto = to_dto(row);
        vec![
            Cell::Text(dto.id.to_string()),
            Cell::Text(dto.organization_id.to_string()),
            Cell::text(name),
            Cell::Text(dto.campaign_id.to_string()),
            Cell::Integer(dto.year.into()),
            Cell::Text(dto.kind.as_str().to_owned()),
            Cell::Text(dto.field),
            Cell::Text(dto.title),
            Cell::text(dto.title_name),
            Cell::number(dto.target_value),
            Cell::text(dto.target_unit),
            Cell::Date(dto.deadline),
            Cell::Text(dto.status.as_str().to_owned()),
            Cell::text(dto.result.map(|result| result.as_str())),
            Cell::number(dto.progress_percent),
            Cell::number(dto.current_value),
            Cell::date(dto.last_reported_on),
            Cell::Bool(dto.overdue),
        ]
    }

    fn json_page(rows: Vec<PledgeRow>, next_cursor: Option<String>) -> PledgePage {
        PledgePage {
            items: rows.into_iter().map(to_dto).collect(),
            next_cursor,
        }
    }
}
