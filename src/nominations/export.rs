//! The nomination list as a spreadsheet: its columns and pages for the one export
//! (`crate::export`).

use super::repo::{self, ListQuery, SortPosition};
use super::service::to_dto;
use crate::db::Databases;
use crate::error::AppResult;
use crate::export::{Cell, Column, Export, PAGE, Page};
use crate::organizations::repo as organization_repo;

pub struct NominationExport;

impl Export for NominationExport {
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
    type Query = ListQuery;

    async fn page(db: &Databases, mut query: ListQuery) -> AppResult<Page<ListQuery>> {
        let mut conn = db.read().await?;
        query.limit = PAGE;
        let mut rows = repo::list(&mut conn, &query).await?;
        let page = usize::try_from(PAGE).unwrap_or(usize::MAX);
        let more = rows.len() > page;
        rows.truncate(page);
        let names = organization_repo::names_of(
            &mut conn,
            rows.iter()
                .map(|row| row.nominating_organization_id)
                .collect(),
        )
        .await?;
        let next = match (more, rows.last()) {
            (true, Some(last)) => {
                query.after = Some(SortPosition::of(query.sort.0, last));
                Some(query)
            }
            _ => None,
        };
        let cells = rows
            .into_iter()
            .map(|row| {
                let name = names.get(&row.nominating_organization_id).cloned();
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
            })
            .collect();
        Ok((cells, next))
    }
}
