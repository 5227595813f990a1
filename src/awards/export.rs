//! The list of an award decision as a spreadsheet (the one export of `crate::export`): the
//! awards in the order conferred, numbered, with the decision, the subject and its unit, the
//! title's name under the decision's rule set, the reward and, after a revocation, what to
//! recover. Officers print and publish this list with the signed decision.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use uuid::Uuid;

use super::repo::{self, ListedAward};
use super::service;
use crate::db::Databases;
use crate::error::AppResult;
use crate::export::{Cell, Column, Export, PAGE, Page};

/// What every row repeats of the decision.
#[derive(Debug)]
pub struct DecisionHeader {
    pub id: Uuid,
    pub decision_no: String,
    pub decided_on: NaiveDate,
    pub issuer_name: String,
    /// Title names by code, from the decision's rule set.
    pub titles: HashMap<String, String>,
}

/// The position of an export of one decision's list.
pub struct DecisionListQuery {
    pub header: Arc<DecisionHeader>,
    /// The last award written, and how many were.
    pub after: Option<Uuid>,
    pub written: i64,
}

pub struct DecisionListExport;

impl DecisionListExport {
    fn cells(header: &DecisionHeader, number: i64, listed: ListedAward) -> Vec<Cell> {
        let title_name = header.titles.get(&listed.award.title_code).cloned();
        let dto = service::award_dto(listed.award);
        vec![
            Cell::Integer(number),
            Cell::Text(header.decision_no.clone()),
            Cell::Date(header.decided_on),
            Cell::Text(header.issuer_name.clone()),
            Cell::Text(dto.subject_type.as_str().to_owned()),
            Cell::Text(dto.subject_name),
            Cell::text(listed.unit_name),
            Cell::Text(dto.title_code),
            Cell::text(title_name),
            Cell::integer(dto.reward_amount),
            Cell::Text(dto.state),
            Cell::text(dto.revocation_reason.map(|reason| reason.as_str())),
            Cell::integer(dto.recovery_amount),
            Cell::Text(dto.subject_id.to_string()),
            Cell::Text(dto.id.to_string()),
        ]
    }
}

impl Export for DecisionListExport {
    const FILE_NAME: &'static str = "award-decision";
    const SHEET_NAME: &'static str = "Danh sách khen thưởng";
    const COLUMNS: &'static [Column] = &[
        Column::new("no", 5.0),
        Column::new("decision_no", 16.0),
        Column::new("decided_on", 12.0),
        Column::new("issuer", 28.0),
        Column::new("subject_type", 12.0),
        Column::new("subject_name", 30.0),
        Column::new("unit_name", 28.0),
        Column::new("title_code", 24.0),
        Column::new("title_name", 36.0),
        Column::new("reward_amount", 14.0),
        Column::new("state", 9.0),
        Column::new("revocation_reason", 18.0),
        Column::new("recovery_amount", 14.0),
        Column::new("subject_id", 38.0),
        Column::new("award_id", 38.0),
    ];
    type Query = DecisionListQuery;

    async fn page(db: &Databases, query: DecisionListQuery) -> AppResult<Page<DecisionListQuery>> {
        let mut conn = db.read().await?;
        let rows =
            repo::decision_awards_page(&mut conn, query.header.id, query.after, PAGE).await?;
        let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) == PAGE;
        let after = rows.last().map(|listed| listed.award.id);
        let mut number = query.written;
        let cells = rows
            .into_iter()
            .map(|listed| {
                number += 1;
                Self::cells(&query.header, number, listed)
            })
            .collect();
        let next = (full && after.is_some()).then_some(DecisionListQuery {
            header: query.header,
            after,
            written: number,
        });
        Ok((cells, next))
    }
}
