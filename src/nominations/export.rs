//! The nomination list as a spreadsheet: its columns and pages for the one export
//! (`crate::export`).

use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::dto::{NominationFilter, NominationPage};
use super::model::NominationRow;
use super::repo::{self, ListQuery};
use super::service::to_dto;
use crate::export::{Cell, Column};
use crate::listing::{Listed, Position};

pub struct NominationExport;

impl Listed for NominationExport {
    const FILE_NAME: &'static str = "nominations";
    const SHEET_NAME: &'static str = "Điển hình";
    const COLUMNS: &'static [Column] = &[
        Column::new("id", 38.0),
        Column::new("nominating_organization_id", 38.0),
        Column::new("nominating_organization_name", 28.0),
        Column::new("campaign_id", 38.0),
        Column::new("year", 7.0),
        Column::new("nominee_type", 12.0),
        Column::new("nominee_name", 50.0),
        Column::new("nominee_position", 24.0),
        Column::new("member_count", 10.0),
        Column::new("field", 18.0),
        Column::new("status", 13.0),
        Column::new("commendation_form", 14.0),
        Column::new("decision_no", 16.0),
        Column::new("decided_on", 12.0),
        Column::new("submitted_at", 17.0),
        Column::new("recognized_at", 17.0),
        Column::new("achievements", 60.0),
    ];
    type Filter = NominationFilter;
    type Row = NominationRow;
    type JsonPage = NominationPage;

    async fn fetch(
        conn: &mut AsyncPgConnection,
        query: &ListQuery,
    ) -> QueryResult<Vec<NominationRow>> {
        repo::list(conn, query).await
    }

    fn position(key: &str, row: &NominationRow) -> Position {
        match key {
            "updated_at" => Position::UpdatedAt(row.updated_at, row.id),
            _ => Position::CreatedAt(row.created_at, row.id),
        }
    }

    fn organization(row: &NominationRow) -> Uuid {
        row.nominating_organization_id
    }

    fn cells(row: NominationRow, name: Option<String>) -> Vec<Cell> {
        let dto = to_dto(row);
        let commendation = dto.commendation;
        vec![
            Cell::Text(dto.id.to_string()),
            Cell::Text(dto.nominating_organization_id.to_string()),
            Cell::text(name),
            Cell::Text(dto.campaign_id.to_string()),
            Cell::Integer(dto.year.into()),
            Cell::Text(dto.nominee_type.as_str().to_owned()),
            Cell::Text(dto.nominee_name),
            Cell::text(dto.nominee_position),
            Cell::integer(dto.member_count),
            Cell::Text(dto.field),
            Cell::Text(dto.status.as_str().to_owned()),
            Cell::text(commendation.as_ref().map(|c| c.form.as_str())),
            Cell::text(commendation.as_ref().map(|c| c.decision_no.clone())),
            Cell::date(commendation.as_ref().map(|c| c.decided_on)),
            Cell::instant(dto.submitted_at),
            Cell::instant(dto.recognized_at),
            Cell::text(dto.achievements),
        ]
    }

    fn json_page(rows: Vec<NominationRow>, next_cursor: Option<String>) -> NominationPage {
        NominationPage {
            items: rows.into_iter().map(to_dto).collect(),
            next_cursor,
        }
    }
}
