//! Applying a restructuring (docs/design.md § Restructuring with lineage): every step in one
//! transaction, validated as it goes, so a refusal in step 300 of 400 leaves no trace; a dry
//! run applies the same steps and rolls back, so its preview is exactly what would happen.
//!
//! What a step does to the tree, at the effective date `e`:
//! - a unit it ends gets `valid_to = e - 1` and stops being active; its lineage links name the
//!   restructuring; its open work of the year of `e` and all its work of later years, its
//!   memberships and its partner clients go to its (primary) successor; its continuing
//!   children are placed under that successor;
//! - placing a unit under another parent (a `move`, or a continuing child following its
//!   parent's successor) records its former place in `organization_placements` (for every node
//!   of its subtree) and carries the records of the year of `e` and later with it, so earlier
//!   years keep reading the tree as it stood (a year is reported on its year-end structure).

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::dto::{
    EndedUnit, MAX_STEPS, MAX_UNITS_PER_STEP, MergeTarget, MovedUnit, NewUnit, Preview,
    PreviewUnit, RenamedUnit, RestructuringRequest, Step, UnitRef,
};
use super::repo;
use crate::audit::{self, Change};
use crate::auth::principal::Principal;
use crate::error::{AppError, AppResult, ProblemCode};
use crate::organizations::dto::{LinkChange, LinkShare};
use crate::organizations::model::OrganizationRow;
use crate::organizations::repo as organization_repo;
use crate::text::Checks;

const NAME_MAX: usize = 200;
const CODE_MAX: usize = 64;
const LEGAL_BASIS_MAX: usize = 500;

/// The outcome of applying a request: its id (None for a dry run, which wrote nothing), the
/// preview and the paths it touched.
pub struct Applied {
    pub id: Uuid,
    pub preview: Preview,
    pub touched_paths: Vec<String>,
}

/// Checks what can be checked without the database: sizes, lengths, refs.
pub fn validate(request: &RestructuringRequest, today: NaiveDate) -> AppResult<()> {
    let mut checks = Checks::default();
    checks.length("/legal_basis", &request.legal_basis, 1, LEGAL_BASIS_MAX);
    if request.effective_on > today {
        checks.fail(
            "/effective_on",
            format!(
                "a restructuring is applied once in force: {} is after today ({today})",
                request.effective_on
            ),
        );
    }
    if request.steps.is_empty() || request.steps.len() > MAX_STEPS {
        checks.fail(
            "/steps",
            format!("between 1 and {MAX_STEPS} steps (split a larger reform by province)"),
        );
    }
    for (index, step) in request.steps.iter().enumerate() {
        let at = format!("/steps/{index}");
        match step {
            Step::Create {
                reference,
                name,
                code,
                ..
            } => {
                checks.length(&format!("{at}/ref"), reference, 1, NAME_MAX);
                check_unit_text(&mut checks, &at, name, code.as_deref());
            }
            Step::Merge { from, into } => {
                if from.is_empty() || from.len() > MAX_UNITS_PER_STEP {
                    checks.fail(
                        &format!("{at}/from"),
                        format!("between 1 and {MAX_UNITS_PER_STEP} units"),
                    );
                }
                if let MergeTarget::New(unit) = into {
                    let at = format!("{at}/into");
                    checks.length(&format!("{at}/ref"), &unit.reference, 1, NAME_MAX);
                    check_unit_text(&mut checks, &at, &unit.name, unit.code.as_deref());
                }
            }
            Step::Split { into, .. } => {
                if into.is_empty() || into.len() > MAX_UNITS_PER_STEP {
                    checks.fail(
                        &format!("{at}/into"),
                        format!("between 1 and {MAX_UNITS_PER_STEP} units"),
                    );
                }
            }
            Step::Rename { name, code, .. } => {
                if name.is_none() && code.is_none() {
                    checks.fail(&at, "a rename changes `name`, `code` or both");
                }
                if let Some(name) = name {
                    checks.length(&format!("{at}/name"), name, 1, NAME_MAX);
                }
                if let Some(Some(code)) = code {
                    checks.length(&format!("{at}/code"), code, 1, CODE_MAX);
                }
            }
            Step::Move { .. } | Step::Dissolve { .. } => {}
        }
    }
    checks.finish()
}

fn check_unit_text(checks: &mut Checks, at: &str, name: &str, code: Option<&str>) {
    checks.length(&format!("{at}/name"), name, 1, NAME_MAX);
    if let Some(code) = code {
        checks.length(&format!("{at}/code"), code, 1, CODE_MAX);
    }
}

/// Applies `request` inside the caller's transaction (the caller rolls back a dry run).
/// `actor` None: the command line (`thidua import-units`).
pub async fn apply(
    conn: &mut AsyncPgConnection,
    actor: Option<&Principal>,
    request: &RestructuringRequest,
) -> AppResult<Applied> {
    let id = Uuid::now_v7();
    // The restructuring row comes first: links and placements name it.
    repo::insert(conn, id, request, actor.map(|principal| principal.id)).await?;
    let mut run = Run {
        id,
        effective_on: request.effective_on,
        last_day: request
            .effective_on
            .pred_opt()
            .unwrap_or(request.effective_on),
        created: HashMap::new(),
        preview: Preview::default(),
        touched: HashSet::new(),
    };
    for (index, step) in request.steps.iter().enumerate() {
        run.step(conn, index, step).await?;
    }
    let mut touched_paths: Vec<String> = run.touched.into_iter().collect();
    touched_paths.sort();
    repo::finish(conn, id, &run.preview, &touched_paths).await?;
    audit::record(
        conn,
        actor,
        Change {
            action: "restructuring.apply",
            entity_type: "restructuring",
            entity_id: id,
            organization_id: None,
            before: None,
            after: serde_json::to_value(&run.preview).ok(),
        },
    )
    .await?;
    Ok(Applied {
        id,
        preview: run.preview,
        touched_paths,
    })
}

/// The state of one application.
struct Run {
    id: Uuid,
    effective_on: NaiveDate,
    /// The last day of the units it ends.
    last_day: NaiveDate,
    /// Units created so far, by `ref`.
    created: HashMap<String, Uuid>,
    preview: Preview,
    /// Paths of every unit touched, before and after.
    touched: HashSet<String>,
}

impl Run {
    async fn step(
        &mut self,
        conn: &mut AsyncPgConnection,
        index: usize,
        step: &Step,
    ) -> AppResult<()> {
        let at = format!("/steps/{index}");
        match step {
            Step::Create {
                reference,
                name,
                kind,
                code,
                parent,
            } => {
                let unit = NewUnit {
                    reference: reference.clone(),
                    name: name.clone(),
                    kind: *kind,
                    code: code.clone(),
                    parent: parent.clone(),
                };
                self.create(conn, &at, &unit).await?;
            }
            Step::Merge { from, into } => {
                let mut ended = Vec::with_capacity(from.len());
                let mut seen = HashSet::new();
                for (position, unit) in from.iter().enumerate() {
                    let pointer = format!("{at}/from/{position}");
                    let row = self.current(conn, &pointer, unit).await?;
                    if !seen.insert(row.id) {
                        return Err(AppError::field(&pointer, "this unit is named twice"));
                    }
                    ended.push((pointer, row));
                }
                // The ended units go first, so the new unit may take over one of their codes.
                let target = match into {
                    MergeTarget::Unit(unit) => {
                        let row = self.current(conn, &format!("{at}/into"), unit).await?;
                        if seen.contains(&row.id) {
                            // Merging into one of the merged units: it continues, the others end.
                            ended.retain(|(_, ended)| ended.id != row.id);
                        }
                        Some(row)
                    }
                    MergeTarget::New(_) => None,
                };
                for (pointer, row) in &ended {
                    self.end(conn, pointer, row).await?;
                }
                let target = match (target, into) {
                    (Some(row), _) => row,
                    (None, MergeTarget::New(unit)) => {
                        self.create(conn, &format!("{at}/into"), unit).await?
                    }
                    (None, MergeTarget::Unit(_)) => unreachable!("resolved above"),
                };
                for (pointer, row) in ended {
                    self.link(conn, &row, &target, LinkChange::Merge, LinkShare::Full)
                        .await?;
                    self.carry(conn, &pointer, &row, &target, "merge").await?;
                    self.ended_into(&row, &[target.id]);
                }
            }
            Step::Split {
                from,
                into,
                primary,
            } => {
                let row = self.current(conn, &format!("{at}/from"), from).await?;
                let mut successors = Vec::with_capacity(into.len());
                for (position, unit) in into.iter().enumerate() {
                    let pointer = format!("{at}/into/{position}");
                    let successor = self.current(conn, &pointer, unit).await?;
                    if successor.id == row.id {
                        return Err(AppError::field(
                            &pointer,
                            "a unit does not split into itself",
                        ));
                    }
                    successors.push(successor);
                }
                let primary_row = self
                    .current(conn, &format!("{at}/primary"), primary)
                    .await?;
                if !successors.iter().any(|unit| unit.id == primary_row.id) {
                    return Err(AppError::field(
                        &format!("{at}/primary"),
                        "the primary successor must be one of `into`",
                    ));
                }
                self.end(conn, &format!("{at}/from"), &row).await?;
                for successor in &successors {
                    self.link(conn, &row, successor, LinkChange::Split, LinkShare::Partial)
                        .await?;
                }
                self.carry(conn, &format!("{at}/from"), &row, &primary_row, "split")
                    .await?;
                let ids: Vec<Uuid> = successors.iter().map(|unit| unit.id).collect();
                self.ended_into(&row, &ids);
            }
            Step::Move { unit, parent } => {
                let row = self.current(conn, &format!("{at}/unit"), unit).await?;
                let parent = self.current(conn, &format!("{at}/parent"), parent).await?;
                self.place(conn, &format!("{at}/parent"), &row, &parent, "move")
                    .await?;
            }
            Step::Rename { unit, name, code } => {
                let row = self.current(conn, &format!("{at}/unit"), unit).await?;
                self.rename(conn, &at, &row, name.as_deref(), code.as_ref())
                    .await?;
            }
            Step::Dissolve { unit, successor } => {
                let row = self.current(conn, &format!("{at}/unit"), unit).await?;
                let successor = match successor {
                    Some(successor) => {
                        let pointer = format!("{at}/successor");
                        let successor = self.current(conn, &pointer, successor).await?;
                        if successor.id == row.id {
                            return Err(AppError::field(
                                &pointer,
                                "a unit is not its own successor",
                            ));
                        }
                        Some(successor)
                    }
                    None => None,
                };
                self.end(conn, &format!("{at}/unit"), &row).await?;
                match successor {
                    Some(successor) => {
                        self.link(conn, &row, &successor, LinkChange::Merge, LinkShare::Full)
                            .await?;
                        self.carry(conn, &format!("{at}/unit"), &row, &successor, "dissolve")
                            .await?;
                        self.ended_into(&row, &[successor.id]);
                    }
                    None => {
                        if let Some((child_id, child_name)) =
                            repo::continuing_child(conn, row.id).await?
                        {
                            return Err(AppError::field(
                                &format!("{at}/successor"),
                                format!(
                                    "the unit still has the continuing child \u{201c}{child_name}\u{201d} \
                                     ({child_id}): name a successor, or end or move its children in \
                                     earlier steps"
                                ),
                            ));
                        }
                        self.ended_into(&row, &[]);
                    }
                }
            }
        }
        Ok(())
    }

    /// The unit `unit` names, locked, as it stands now; refused when it has ended.
    async fn current(
        &mut self,
        conn: &mut AsyncPgConnection,
        pointer: &str,
        unit: &UnitRef,
    ) -> AppResult<OrganizationRow> {
        let id = match unit {
            UnitRef::Existing { id } => *id,
            UnitRef::Created { reference } => {
                *self.created.get(reference).ok_or_else(|| {
                    AppError::field(
                        pointer,
                        format!("no unit with ref \u{201c}{reference}\u{201d} was created by an earlier step"),
                    )
                })?
            }
        };
        let row = organization_repo::find_for_update(conn, id)
            .await?
            .ok_or_else(|| AppError::field(pointer, format!("no such organization {id}")))?;
        if let Some(valid_to) = row.valid_to {
            let successors = repo::successor_names(conn, row.id).await?;
            let detail = if successors.is_empty() {
                format!("\u{201c}{}\u{201d} ended on {valid_to}", row.name)
            } else {
                format!(
                    "\u{201c}{}\u{201d} ended on {valid_to}; its successor is {}",
                    row.name,
                    successors.join(", ")
                )
            };
            return Err(AppError::field(pointer, detail));
        }
        if !row.active {
            return Err(AppError::field(
                pointer,
                format!("\u{201c}{}\u{201d} is deactivated", row.name),
            ));
        }
        self.touched.insert(row.path.clone());
        Ok(row)
    }

    async fn create(
        &mut self,
        conn: &mut AsyncPgConnection,
        at: &str,
        unit: &NewUnit,
    ) -> AppResult<OrganizationRow> {
        if self.created.contains_key(&unit.reference) {
            return Err(AppError::field(
                &format!("{at}/ref"),
                format!(
                    "ref \u{201c}{}\u{201d} is already used in this request",
                    unit.reference
                ),
            ));
        }
        let parent = match &unit.parent {
            Some(parent) => Some(self.current(conn, &format!("{at}/parent"), parent).await?),
            None => None,
        };
        let name = unit.name.trim();
        let code = unit.code.as_deref().map(str::trim);
        if let Some(code) = code {
            self.refuse_code_taken(conn, &format!("{at}/code"), code, None)
                .await?;
        }
        if let Some((id, existing)) = organization_repo::sibling_named(
            conn,
            parent.as_ref().map(|parent| parent.id),
            name,
            None,
        )
        .await?
        {
            return Err(AppError::field(
                &format!("{at}/name"),
                format!("the sibling unit \u{201c}{existing}\u{201d} ({id}) already has this name"),
            ));
        }
        let row = organization_repo::insert_valid_from(
            conn,
            parent.as_ref(),
            unit.kind,
            name,
            code,
            Some(self.effective_on),
        )
        .await?;
        self.created.insert(unit.reference.clone(), row.id);
        self.touched.insert(row.path.clone());
        self.preview.created.push(PreviewUnit {
            id: row.id,
            name: row.name.clone(),
            code: row.code.clone(),
            kind: unit.kind,
            parent_id: row.parent_id,
        });
        Ok(row)
    }

    /// 422 when another unit holds `code` on a day from `effective_on` on.
    async fn refuse_code_taken(
        &self,
        conn: &mut AsyncPgConnection,
        pointer: &str,
        code: &str,
        except: Option<Uuid>,
    ) -> AppResult<()> {
        if let Some((id, name)) = repo::code_holder(conn, code, self.effective_on, except).await? {
            return Err(AppError::field(
                pointer,
                format!(
                    "code {code} is already valid on {} for \u{201c}{name}\u{201d} ({id})",
                    self.effective_on
                ),
            ));
        }
        Ok(())
    }

    /// Ends `row` on the day before the effective date.
    async fn end(
        &mut self,
        conn: &mut AsyncPgConnection,
        pointer: &str,
        row: &OrganizationRow,
    ) -> AppResult<()> {
        if row.valid_from.is_some_and(|from| from > self.last_day) {
            return Err(AppError::field(
                pointer,
                format!(
                    "\u{201c}{}\u{201d} is valid from {}: it cannot end before it begins (effective_on {})",
                    row.name,
                    row.valid_from.unwrap_or(self.effective_on),
                    self.effective_on
                ),
            ));
        }
        repo::end_unit(conn, row.id, self.last_day).await?;
        Ok(())
    }

    fn ended_into(&mut self, row: &OrganizationRow, successors: &[Uuid]) {
        self.preview.ended.push(EndedUnit {
            id: row.id,
            name: row.name.clone(),
            code: row.code.clone(),
            valid_to: self.last_day,
            successors: successors.to_vec(),
        });
    }

    async fn link(
        &mut self,
        conn: &mut AsyncPgConnection,
        predecessor: &OrganizationRow,
        successor: &OrganizationRow,
        change: LinkChange,
        share: LinkShare,
    ) -> AppResult<()> {
        repo::insert_link(
            conn,
            predecessor.id,
            successor.id,
            self.id,
            self.effective_on,
            change,
            share,
        )
        .await?;
        Ok(())
    }

    /// Carries the work, members and continuing children of the ended `from` to `to`.
    async fn carry(
        &mut self,
        conn: &mut AsyncPgConnection,
        pointer: &str,
        from: &OrganizationRow,
        to: &OrganizationRow,
        reason: &str,
    ) -> AppResult<()> {
        if to.path.starts_with(&from.path) {
            return Err(AppError::field(
                pointer,
                format!(
                    "\u{201c}{}\u{201d} would continue inside its own subtree (\u{201c}{}\u{201d})",
                    from.name, to.name
                ),
            ));
        }
        let carried = repo::carry_work(conn, from.id, to, self.effective_on.year()).await?;
        self.preview.carried.pledges += carried.pledges;
        self.preview.carried.nominations += carried.nominations;
        self.preview.carried.memberships += carried.memberships;
        self.preview.carried.clients += carried.clients;
        self.preview.carried.persons += carried.persons;
        for child in repo::continuing_children(conn, from.id).await? {
            self.place(conn, pointer, &child, to, reason).await?;
            self.preview.carried.children_reparented += 1;
        }
        Ok(())
    }

    /// Places `unit` (with its subtree) under `parent` from the effective date.
    async fn place(
        &mut self,
        conn: &mut AsyncPgConnection,
        pointer: &str,
        unit: &OrganizationRow,
        parent: &OrganizationRow,
        reason: &str,
    ) -> AppResult<()> {
        if parent.path.starts_with(&unit.path) {
            return Err(AppError::field(
                pointer,
                format!(
                    "\u{201c}{}\u{201d} is inside the subtree of \u{201c}{}\u{201d}: that would make a cycle",
                    parent.name, unit.name
                ),
            ));
        }
        if let Some(placed_on) = repo::latest_placement_in(conn, &unit.path).await?
            && placed_on > self.effective_on
        {
            return Err(AppError::field(
                pointer,
                format!(
                    "a unit of this subtree was placed anew on {placed_on}, after effective_on {}",
                    self.effective_on
                ),
            ));
        }
        if let Some((id, existing)) =
            organization_repo::sibling_named(conn, Some(parent.id), &unit.name, Some(unit.id))
                .await?
        {
            return Err(AppError::field(
                pointer,
                format!(
                    "\u{201c}{}\u{201d} already has the child \u{201c}{existing}\u{201d} ({id}) of this name",
                    parent.name
                ),
            ));
        }
        let new_path = repo::place_subtree(conn, unit, parent, self.effective_on, self.id).await?;
        self.touched.insert(new_path);
        self.preview.moved.push(MovedUnit {
            id: unit.id,
            name: unit.name.clone(),
            from_parent_id: unit.parent_id,
            to_parent_id: parent.id,
            reason: reason.to_owned(),
        });
        Ok(())
    }

    async fn rename(
        &mut self,
        conn: &mut AsyncPgConnection,
        at: &str,
        row: &OrganizationRow,
        name: Option<&str>,
        code: Option<&Option<String>>,
    ) -> AppResult<()> {
        let new_name = name.map_or_else(|| row.name.clone(), |name| name.trim().to_owned());
        let new_code = match code {
            Some(code) => code.as_deref().map(|code| code.trim().to_owned()),
            None => row.code.clone(),
        };
        if let Some(code) = new_code.as_deref()
            && row.code.as_deref() != Some(code)
        {
            self.refuse_code_taken(conn, &format!("{at}/code"), code, Some(row.id))
                .await?;
        }
        if new_name != row.name
            && let Some((id, existing)) =
                organization_repo::sibling_named(conn, row.parent_id, &new_name, Some(row.id))
                    .await?
        {
            return Err(AppError::field(
                &format!("{at}/name"),
                format!("the sibling unit \u{201c}{existing}\u{201d} ({id}) already has this name"),
            ));
        }
        repo::rename(conn, row.id, &new_name, new_code.as_deref()).await?;
        self.preview.renamed.push(RenamedUnit {
            id: row.id,
            old_name: row.name.clone(),
            new_name,
            old_code: row.code.clone(),
            new_code,
        });
        Ok(())
    }
}

/// A database refusal that a step's own checks did not foresee (a race with a concurrent
/// write, typically) becomes a 409 rather than a 500.
pub fn conflict_of(error: diesel::result::Error) -> AppError {
    if let diesel::result::Error::DatabaseError(_, info) = &error {
        match info.constraint_name() {
            Some("organizations_code_valid_key") => {
                return AppError::conflict(
                    ProblemCode::AlreadyExists,
                    "another unit valid on the same day holds this code",
                );
            }
            Some("organizations_sibling_name_key") => {
                return AppError::conflict(
                    ProblemCode::AlreadyExists,
                    "an active sibling unit already has this name",
                );
            }
            _ => {}
        }
    }
    error.into()
}
