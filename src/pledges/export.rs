//! The pledge list as a spreadsheet: its columns and pages for the one export (`crate::export`).

use super::repo::{self, ListQuery, SortPosition};
use super::service::to_dto;
use crate::db::Databases;
use crate::error::AppResult;
use crate::export::{Cell, Column, Export, PAGE, Page};
use crate::organizations::repo as organization_repo;

pub struct PledgeExport;

impl Export for PledgeExport {
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
            rows.iter().map(|row| row.organization_id).collect(),
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
                let name = names.get(&row.organization_id).cloned();
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
            })
            .collect();
        Ok((cells, next))
    }
}
