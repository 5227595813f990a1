//! `thidua import-units`: the 2025 two-tier reform from `data/vn-admin-2025/merges.json` (new
//! unit → the old units it took over), applied as one restructuring per new province through
//! the same code path as `POST /restructurings` (`service::apply`), effective 2025-07-01.
//!
//! For each new province, the steps are, in this order:
//! 1. the old provinces found (current units of kind `province` whose code is an old province
//!    code) merge into the new province; without any, the new province is created. Their
//!    continuing children (the old districts) are placed under it;
//! 2. each new commune or ward: the old communes found by old code that it took over whole merge
//!    into it, or it is created;
//! 3. each old commune taken over in part (`partial`) splits into the new units of this
//!    province that took a part, the first one being the primary successor (its work and
//!    members go there);
//! 4. the old districts (now under the new province) are dissolved into it: the district level
//!    is gone; units under them that the data does not name (agencies…) stay under the province.
//!
//! A province whose new unit already exists (same code, valid from 2025-07-01) was imported
//! before and is skipped, so the command can be run again. Codes are looked up among current
//! units only: old code 29137 (Xã Phước Ngãi) and new code 29137 (Xã Tân Xuân) never meet.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::Context;
use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use uuid::Uuid;

use super::dto::{MergeTarget, NewUnit, Preview, RestructuringRequest, Step, UnitRef};
use super::service;
use crate::db::schema::organizations;
use crate::error::AppError;
use crate::organizations::dto::OrganizationKind;

/// The day the two-tier local government took effect.
pub fn reform_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 7, 1).unwrap_or_default()
}

/// `merges.json` of data/vn-admin-2025: the 34 new provinces, in the order of the data (and of
/// `provinces-2025.csv`). Also read by `thidua generate` for its benchmark tree.
#[derive(Debug, Deserialize)]
pub struct MergesFile {
    pub data: Vec<NewProvince>,
}

/// One new province (or city) and the new communes and wards under it.
#[derive(Debug, Deserialize)]
pub struct NewProvince {
    /// Its 2025 code, e.g. `86`.
    pub level1_id: String,
    pub name: String,
    merges: Vec<OldPart>,
    pub level2s: Vec<NewCommune>,
}

/// One new commune, ward or special zone.
#[derive(Debug, Deserialize)]
pub struct NewCommune {
    /// Its 2025 code, e.g. `29122`.
    pub level2_id: String,
    pub name: String,
    merges: Vec<OldPart>,
}

#[derive(Debug, Deserialize)]
struct OldPart {
    old_id: String,
    #[serde(rename = "type")]
    share: String,
}

/// Parses the text of a `merges.json`.
pub fn parse(text: &str) -> anyhow::Result<MergesFile> {
    serde_json::from_str(text).context("this is not the merges.json of data/vn-admin-2025")
}

/// What `import-units` was asked.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    /// `merges.json` of data/vn-admin-2025.
    pub merges: &'a Path,
    /// Only this new province (its 2025 code, e.g. `86`).
    pub province: Option<&'a str>,
    pub dry_run: bool,
}

/// What happened to one province.
#[derive(Debug)]
pub struct ProvinceOutcome {
    pub code: String,
    pub name: String,
    /// None: imported before, skipped.
    pub preview: Option<Preview>,
    pub restructuring_id: Option<Uuid>,
}

/// A current unit found by code.
#[derive(Debug, Clone)]
struct Found {
    id: Uuid,
    parent_id: Option<Uuid>,
    kind: String,
    valid_from: Option<NaiveDate>,
}

/// Reads the data and applies (or, with `dry_run`, previews) the reform of every province, or
/// of the one asked.
pub async fn run(
    conn: &mut AsyncPgConnection,
    options: &Options<'_>,
) -> anyhow::Result<Vec<ProvinceOutcome>> {
    let text = std::fs::read_to_string(options.merges)
        .with_context(|| format!("reading {}", options.merges.display()))?;
    run_json(conn, &text, options.province, options.dry_run)
        .await
        .with_context(|| format!("importing {}", options.merges.display()))
}

/// [`run`] over the text of a `merges.json` (the demo carries the part of one province).
pub async fn run_json(
    conn: &mut AsyncPgConnection,
    text: &str,
    province: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<Vec<ProvinceOutcome>> {
    let file = parse(text)?;
    let provinces: Vec<&NewProvince> = file
        .data
        .iter()
        .filter(|candidate| province.is_none_or(|code| candidate.level1_id == code))
        .collect();
    if provinces.is_empty() {
        anyhow::bail!("no new province with code {}", province.unwrap_or("?"));
    }
    let mut outcomes = Vec::with_capacity(provinces.len());
    for province in provinces {
        outcomes.push(
            import_province(conn, province, dry_run)
                .await
                .with_context(|| format!("{} ({})", province.name, province.level1_id))?,
        );
    }
    Ok(outcomes)
}

/// How the transaction of one province ends.
enum Ending {
    Failed(AppError),
    DryRun(Box<Preview>),
}

impl From<diesel::result::Error> for Ending {
    fn from(error: diesel::result::Error) -> Self {
        Self::Failed(service::conflict_of(error))
    }
}

impl From<AppError> for Ending {
    fn from(error: AppError) -> Self {
        Self::Failed(error)
    }
}

async fn import_province(
    conn: &mut AsyncPgConnection,
    province: &NewProvince,
    dry_run: bool,
) -> anyhow::Result<ProvinceOutcome> {
    let outcome = conn
        .transaction::<_, Ending, _>(async move |conn| {
            let Some(request) = plan(conn, province).await? else {
                return Ok(None);
            };
            let applied = service::apply(conn, None, &request).await?;
            if dry_run {
                return Err(Ending::DryRun(Box::new(applied.preview)));
            }
            Ok(Some((applied.id, applied.preview)))
        })
        .await;
    let (restructuring_id, preview) = match outcome {
        Ok(Some((id, preview))) => (Some(id), Some(preview)),
        Ok(None) => (None, None),
        Err(Ending::DryRun(preview)) => (None, Some(*preview)),
        Err(Ending::Failed(error)) => anyhow::bail!("refused: {}", error.body()),
    };
    Ok(ProvinceOutcome {
        code: province.level1_id.clone(),
        name: province.name.clone(),
        preview,
        restructuring_id,
    })
}

/// The steps of one province, or None when it was imported before.
async fn plan(
    conn: &mut AsyncPgConnection,
    province: &NewProvince,
) -> Result<Option<RestructuringRequest>, AppError> {
    let day = reform_day();
    let mut codes: Vec<String> = vec![province.level1_id.clone()];
    codes.extend(province.merges.iter().map(|old| old.old_id.clone()));
    for commune in &province.level2s {
        codes.extend(commune.merges.iter().map(|old| old.old_id.clone()));
    }
    let found = current_units_by_code(conn, &codes).await?;
    let old = |code: &str, province_level: bool| -> Option<&Found> {
        found.get(code)?.iter().find(|unit| {
            unit.valid_from.is_none_or(|from| from < day)
                && (unit.kind == OrganizationKind::Province.as_str()) == province_level
                && (province_level
                    || [OrganizationKind::Commune, OrganizationKind::Ward]
                        .iter()
                        .any(|kind| unit.kind == kind.as_str()))
        })
    };
    let imported_before = found.get(&province.level1_id).is_some_and(|units| {
        units.iter().any(|unit| {
            unit.valid_from == Some(day) && unit.kind == OrganizationKind::Province.as_str()
        })
    });
    if imported_before {
        return Ok(None);
    }

    let province_ref = format!("p{}", province.level1_id);
    let old_provinces: Vec<&Found> = province
        .merges
        .iter()
        .filter_map(|part| old(&part.old_id, true))
        .collect();
    // The new province takes the place of the old ones: a root, or under the country unit the
    // old ones stood under.
    let new_province = NewUnit {
        reference: province_ref.clone(),
        name: province.name.clone(),
        kind: OrganizationKind::Province,
        code: Some(province.level1_id.clone()),
        parent: old_provinces
            .iter()
            .find_map(|unit| unit.parent_id)
            .map(existing),
    };
    let mut steps = Vec::new();
    if old_provinces.is_empty() {
        steps.push(create_step(new_province));
    } else {
        steps.push(Step::Merge {
            from: old_provinces.iter().map(|unit| existing(unit.id)).collect(),
            into: MergeTarget::New(new_province),
        });
    }

    // Old communes taken in part: every new unit of this province that took a part.
    let mut parts: Vec<(Uuid, Vec<String>)> = Vec::new();
    let mut part_index: HashMap<Uuid, usize> = HashMap::new();
    for commune in &province.level2s {
        let reference = format!("c{}", commune.level2_id);
        let unit = NewUnit {
            reference: reference.clone(),
            name: commune.name.clone(),
            kind: commune_kind(&commune.name),
            code: Some(commune.level2_id.clone()),
            parent: Some(UnitRef::Created {
                reference: province_ref.clone(),
            }),
        };
        let mut whole = Vec::new();
        for part in &commune.merges {
            let Some(found) = old(&part.old_id, false) else {
                continue;
            };
            if part.share == "partial" {
                let index = *part_index.entry(found.id).or_insert_with(|| {
                    parts.push((found.id, Vec::new()));
                    parts.len() - 1
                });
                parts[index].1.push(reference.clone());
            } else {
                whole.push(existing(found.id));
            }
        }
        if whole.is_empty() {
            steps.push(create_step(unit));
        } else {
            steps.push(Step::Merge {
                from: whole,
                into: MergeTarget::New(unit),
            });
        }
    }
    for (old_unit, successors) in parts {
        let primary = UnitRef::Created {
            reference: successors[0].clone(),
        };
        steps.push(Step::Split {
            from: existing(old_unit),
            into: successors
                .into_iter()
                .map(|reference| UnitRef::Created { reference })
                .collect(),
            primary,
        });
    }

    // The district level is gone.
    let old_province_ids: HashSet<Uuid> = old_provinces.iter().map(|unit| unit.id).collect();
    for district in current_districts_under(conn, &old_province_ids).await? {
        steps.push(Step::Dissolve {
            unit: existing(district),
            successor: Some(UnitRef::Created {
                reference: province_ref.clone(),
            }),
        });
    }

    Ok(Some(RestructuringRequest {
        effective_on: day,
        legal_basis: format!(
            "Nghị quyết 202/2025/QH15 về sắp xếp đơn vị hành chính cấp tỉnh; nghị quyết của \
             UBTVQH15 về sắp xếp đơn vị hành chính cấp xã của {} năm 2025",
            province.name
        ),
        dry_run: false,
        steps,
    }))
}

/// One line per province: what was (or would be) created, ended and carried.
pub fn summary(outcome: &ProvinceOutcome, dry_run: bool) -> String {
    let Some(preview) = &outcome.preview else {
        return format!(
            "{} ({}): imported before, skipped",
            outcome.name, outcome.code
        );
    };
    let verb = if dry_run { "would create" } else { "created" };
    let mut ended: Vec<&str> = preview
        .ended
        .iter()
        .map(|unit| unit.name.as_str())
        .collect();
    let more = ended.len().saturating_sub(8);
    ended.truncate(8);
    let carried = &preview.carried;
    format!(
        "{} ({}): {verb} {} units, ended {}{}{}, re-parented {} continuing children, carried {} pledges, {} nominations, {} memberships{}",
        outcome.name,
        outcome.code,
        preview.created.len(),
        preview.ended.len(),
        if ended.is_empty() {
            String::new()
        } else {
            format!(" ({}", ended.join(", "))
        },
        match (ended.is_empty(), more) {
            (true, _) => String::new(),
            (false, 0) => ")".to_owned(),
            (false, more) => format!(" and {more} more)"),
        },
        carried.children_reparented,
        carried.pledges,
        carried.nominations,
        carried.memberships,
        outcome
            .restructuring_id
            .map(|id| format!("; restructuring {id}"))
            .unwrap_or_default(),
    )
}

fn create_step(unit: NewUnit) -> Step {
    Step::Create {
        reference: unit.reference,
        name: unit.name,
        kind: unit.kind,
        code: unit.code,
        parent: unit.parent,
    }
}

fn existing(id: Uuid) -> UnitRef {
    UnitRef::Existing { id }
}

/// A ward (`Phường …`) or a commune (`Xã …`, and the 13 special zones, `Đặc khu …`).
pub fn commune_kind(name: &str) -> OrganizationKind {
    if name.starts_with("Phường") {
        OrganizationKind::Ward
    } else {
        OrganizationKind::Commune
    }
}

/// id, parent, code, kind, valid_from.
type FoundRow = (
    Uuid,
    Option<Uuid>,
    Option<String>,
    String,
    Option<NaiveDate>,
);

/// Current (not ended, active) units holding one of `codes`, by code.
async fn current_units_by_code(
    conn: &mut AsyncPgConnection,
    codes: &[String],
) -> QueryResult<HashMap<String, Vec<Found>>> {
    let rows: Vec<FoundRow> = organizations::table
        .filter(organizations::code.eq_any(codes))
        .filter(organizations::valid_to.is_null())
        .filter(organizations::active.eq(true))
        .select((
            organizations::id,
            organizations::parent_id,
            organizations::code,
            organizations::kind,
            organizations::valid_from,
        ))
        .load(conn)
        .await?;
    let mut by_code: HashMap<String, Vec<Found>> = HashMap::new();
    for (id, parent_id, code, kind, valid_from) in rows {
        let Some(code) = code else { continue };
        by_code.entry(code).or_default().push(Found {
            id,
            parent_id,
            kind,
            valid_from,
        });
    }
    Ok(by_code)
}

/// The current districts directly under the old provinces.
async fn current_districts_under(
    conn: &mut AsyncPgConnection,
    provinces: &HashSet<Uuid>,
) -> QueryResult<Vec<Uuid>> {
    if provinces.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = provinces.iter().copied().collect();
    organizations::table
        .filter(organizations::parent_id.eq_any(ids))
        .filter(organizations::kind.eq(OrganizationKind::District.as_str()))
        .filter(organizations::valid_to.is_null())
        .filter(organizations::active.eq(true))
        .order(organizations::id)
        .select(organizations::id)
        .load(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wards_and_communes_are_told_apart_by_their_name() {
        assert_eq!(commune_kind("Phường Phú Khương"), OrganizationKind::Ward);
        assert_eq!(commune_kind("Xã Mỹ Chánh Hòa"), OrganizationKind::Commune);
        assert_eq!(commune_kind("Đặc khu Phú Quốc"), OrganizationKind::Commune);
    }
}
