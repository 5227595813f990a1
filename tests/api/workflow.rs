//! The shared machinery of every workflow: a test-only workflow run end to end through the one
//! runner (its table, its rules, nothing else), four eyes, the commendation and progress rules
//! of the policy, and the one export (every text column neutralized in CSV and XLSX, typed
//! cells, failure midway).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use reqwest::Method;
use reqwest::header::ACCEPT;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use thidua::auth::policy::Operation;
use thidua::auth::principal::{Grant, Principal, PrincipalKind, Role};
use thidua::conditional::IfMatch;
use thidua::error::AppResult;
use thidua::idempotency::{Idempotency, IdempotencyKey};
use thidua::workflow::{self, Edge, Facts, StateMachine, Workflow};

use crate::helpers::ctx::{Ctx, merged};
use crate::helpers::fixture::{self, Fixture};
use crate::helpers::{TestApp, status_and_json};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

// ---------------------------------------------------------------------------------------------
// A workflow that exists only in this test: a ticket of a unit that its managers close.
// Everything below up to the tests is what a new workflow has to write.

diesel::table! {
    tickets (id) {
        id -> Uuid,
        organization_id -> Uuid,
        organization_path -> Text,
        status -> Text,
        note -> Nullable<Text>,
        version -> Int4,
        created_by -> Uuid,
    }
}

thidua::text_enum! {
    pub enum TicketStatus {
        Open = "open",
        Closed = "closed",
    }
}

thidua::text_enum! {
    pub enum TicketAction {
        Close = "close",
    }
}

struct Tickets;

impl StateMachine for Tickets {
    const ENTITY: &'static str = "ticket";
    type Status = TicketStatus;
    type Action = TicketAction;
    const EDGES: &'static [Edge<TicketStatus, TicketAction>] = &[Edge {
        from: &[TicketStatus::Open],
        action: TicketAction::Close,
        to: TicketStatus::Closed,
    }];
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = tickets)]
struct TicketRow {
    id: Uuid,
    organization_id: Uuid,
    organization_path: String,
    status: TicketStatus,
    note: Option<String>,
    version: i32,
    created_by: Uuid,
}

impl Workflow for Tickets {
    type Row = TicketRow;
    type Dto = TicketRow;
    type Input = String;

    async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<TicketRow>> {
        tickets::table
            .find(id)
            .select(TicketRow::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    fn facts(row: &TicketRow) -> Facts<'_, TicketStatus> {
        Facts {
            id: row.id,
            path: &row.organization_path,
            organization_id: row.organization_id,
            status: row.status,
            version: row.version,
            created_by: row.created_by,
            submitted_by: None,
        }
    }

    /// Closing a ticket is decided like writing a pledge: managers of the unit or above.
    fn operation(_: TicketAction) -> Operation {
        Operation::WritePledge
    }

    async fn apply(
        conn: &mut AsyncPgConnection,
        _: &Principal,
        row: TicketRow,
        _: TicketAction,
        to: TicketStatus,
        note: String,
    ) -> AppResult<TicketRow> {
        Ok(diesel::update(tickets::table.find(row.id))
            .set((
                tickets::status.eq(to),
                tickets::note.eq(note),
                tickets::version.eq(tickets::version + 1),
            ))
            .returning(TicketRow::as_returning())
            .get_result(conn)
            .await?)
    }

    fn to_dto(row: TicketRow) -> TicketRow {
        row
    }
}

// ---------------------------------------------------------------------------------------------

fn manager_of(
    fixture: &Fixture,
    user: &str,
    unit: &thidua::organizations::model::OrganizationRow,
) -> Principal {
    Principal {
        id: fixture.users[user],
        kind: PrincipalKind::User,
        name: user.to_owned(),
        grants: vec![Grant {
            organization_id: unit.id,
            path: unit.path.clone(),
            role: Role::Manager,
        }],
        scopes: vec![],
        token_expires_at: i64::MAX,
    }
}

async fn close(
    app: &TestApp,
    principal: &Principal,
    ticket: Uuid,
    key: Option<&str>,
) -> (u16, Value, bool) {
    let idempotency = Idempotency::new(
        principal,
        IdempotencyKey::new(key.map(str::to_owned)),
        b"close".to_vec(),
    );
    let response = match workflow::run::<Tickets>(
        &app.state.db,
        principal,
        ticket,
        &IfMatch::default(),
        idempotency,
        TicketAction::Close,
        "done".to_owned(),
    )
    .await
    {
        Ok(response) => response,
        Err(error) => actix_web::ResponseError::error_response(&error),
    };
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let body = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap_or_default();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
        replayed,
    )
}

#[tokio::test]
async fn a_new_workflow_is_only_its_table_rules_and_handlers_on_the_shared_runner() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let ticket = Uuid::new_v4();
    app.db
        .execute_sql(&format!(
            "CREATE TABLE tickets (id uuid PRIMARY KEY, organization_id uuid NOT NULL, \
             organization_path text NOT NULL, status text NOT NULL, note text, \
             version int NOT NULL DEFAULT 1, created_by uuid NOT NULL); \
             INSERT INTO tickets VALUES ('{ticket}', '{}', '{}', 'open', NULL, 1, '{}')",
            fixture.tree.c1.id,
            fixture.tree.c1.path,
            fixture.users[fixture::ADMIN],
        ))
        .await;
    let outsider = manager_of(&fixture, fixture::C2_MANAGER, &fixture.tree.c2);
    let manager = manager_of(&fixture, fixture::C1_MANAGER, &fixture.tree.c1);

    // Outside the subtree the ticket does not exist.
    let (status, _, _) = close(&app, &outsider, ticket, None).await;
    assert_eq!(status, 404);

    let (status, body, replayed) = close(&app, &manager, ticket, Some("close-1")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "closed");
    assert_eq!(body["version"], 2);
    assert!(!replayed);

    // A retry with the same key replays the answer; without a key the table refuses.
    let (status, again, replayed) = close(&app, &manager, ticket, Some("close-1")).await;
    assert_eq!((status, &again), (200, &body));
    assert!(replayed);
    let (status, problem, _) = close(&app, &manager, ticket, None).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "invalid_transition");
    assert_eq!(problem["current_status"], "closed");
    assert_eq!(
        problem["detail"],
        "a ticket in state closed does not allow close; allowed: nothing (final state)"
    );

    // One audit event, named after the entity and the action.
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) FROM audit_events WHERE entity_id = '{ticket}' AND action = 'ticket.close'"
            ))
            .await,
        1
    );
}

// ---------------------------------------------------------------------------------------------

async fn new_ctx() -> Ctx {
    Ctx::new(&[("nong_thon_moi", "Nông thôn mới")], &[]).await
}

impl Ctx {
    async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.app.post_for_json(path, token, &body).await
    }

    /// Four eyes on `POST path` with `body`: refused (403) to `party`, who took an earlier
    /// step, then answered `done` for `other`.
    async fn refused_to_party_then_done_by_other(
        &self,
        path: &str,
        body: Value,
        party: &str,
        other: &str,
        done: u16,
    ) {
        let (status, problem) = self.post(party, path, body.clone()).await;
        assert_eq!(status, 403, "{path}: {problem}");
        let (status, answer) = self.post(other, path, body).await;
        assert_eq!(status, done, "{path}: {answer}");
    }

    /// `POST /pledges/{id}/{action}` without a body.
    async fn pledge_action(&self, token: &str, id: &str, action: &str) -> (u16, Value) {
        let path = format!("/api/v1/pledges/{id}/{action}");
        self.post(token, &path, json!({})).await
    }

    /// A pledge of C1 written and submitted by C1's manager, approved by D1's; returns its id.
    async fn approved_pledge(&self) -> String {
        let id = self.c1_submitted_pledge(json!({})).await;
        let d1 = self.token(fixture::D1_MANAGER);
        let (status, body) = self.pledge_action(d1, &id, "approve").await;
        assert_eq!(status, 200, "{body}");
        id
    }

    /// The admin's export of the list at `path` in the format `accept` (asserts 200).
    async fn admin_export(&self, path: &str, accept: &str) -> Vec<u8> {
        let response = self
            .app
            .request(Method::GET, path, Some(self.token(fixture::ADMIN)))
            .header(ACCEPT, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path} as {accept}");
        response.bytes().await.unwrap().to_vec()
    }

    /// A 2022 collective nomination (39 members) of C1 by its manager, with `texts` (the
    /// nominee's name and position, the achievements) merged in (asserts 201).
    async fn c1_collective_nomination(&self, texts: Value) -> Value {
        let body = json!({"campaign_id": self.campaign,
                          "nominating_organization_id": self.fixture.tree.c1.id, "year": 2022,
                          "nominee_type": "collective", "member_count": 39,
                          "field": "nong_thon_moi"});
        let token = self.token(fixture::C1_MANAGER);
        let (status, nomination) = self
            .post(token, "/api/v1/nominations", merged(body, texts))
            .await;
        assert_eq!(status, 201, "{nomination}");
        nomination
    }

    /// A pledge of C1 written and submitted by C1's manager; returns its id.
    async fn c1_submitted_pledge(&self, overrides: Value) -> String {
        let manager = fixture::C1_MANAGER;
        self.submitted_pledge(manager, manager, overrides).await
    }

    /// A pledge of C1 written by `author`, submitted by `submitter`; returns its id.
    async fn submitted_pledge(&self, author: &str, submitter: &str, overrides: Value) -> String {
        let mut body = json!({
            "campaign_id": self.campaign, "organization_id": self.fixture.tree.c1.id,
            "year": 2022, "kind": "target", "field": "nong_thon_moi",
            "title": "Hoàn thành chỉ tiêu giao thông", "deadline": "2022-12-31"
        });
        if let (Value::Object(body), Value::Object(overrides)) = (&mut body, overrides) {
            body.extend(overrides);
        }
        let (status, pledge) = self.post(self.token(author), "/api/v1/pledges", body).await;
        assert_eq!(status, 201, "{pledge}");
        let id = pledge["id"].as_str().unwrap().to_owned();
        let (status, body) = self
            .post(
                self.token(submitter),
                &format!("/api/v1/pledges/{id}/submit"),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        id
    }
}

#[tokio::test]
async fn the_author_or_submitter_of_a_pledge_never_approves_or_assesses_it() {
    let ctx = new_ctx().await;
    // The district manager writes and submits a commune's pledge alone…
    let own = ctx
        .submitted_pledge(fixture::D1_MANAGER, fixture::D1_MANAGER, json!({}))
        .await;
    let d1 = ctx.token(fixture::D1_MANAGER).to_owned();
    let (status, problem) = ctx.pledge_action(&d1, &own, "approve").await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().starts_with("four eyes"),
        "{problem}"
    );
    // …and neither does the admin who only submitted one.
    let submitted_by_admin = ctx
        .submitted_pledge(fixture::C1_MANAGER, fixture::ADMIN, json!({}))
        .await;
    let admin = ctx.token(fixture::ADMIN).to_owned();
    let (status, _) = ctx
        .pledge_action(&admin, &submitted_by_admin, "approve")
        .await;
    assert_eq!(status, 403);

    // A second person approves; the author still cannot assess it.
    let (status, body) = ctx.pledge_action(&d1, &submitted_by_admin, "approve").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = ctx.pledge_action(&admin, &own, "approve").await;
    assert_eq!(status, 200, "{body}");
    let reviewer = ctx.token(fixture::D1_REVIEWER);
    let assess = format!("/api/v1/pledges/{own}/assess");
    let achieved = json!({"result": "achieved"});
    ctx.refused_to_party_then_done_by_other(&assess, achieved, &d1, reviewer, 200)
        .await;
}

#[tokio::test]
async fn the_submitter_of_a_nomination_never_reviews_recognizes_or_commends_it() {
    let ctx = new_ctx().await;
    let admin = ctx.token(fixture::ADMIN).to_owned();
    let (status, nomination) = ctx
        .post(
            &admin,
            "/api/v1/nominations",
            json!({"campaign_id": ctx.campaign, "nominating_organization_id": ctx.fixture.tree.c1.id,
                   "year": 2022, "nominee_type": "individual", "nominee_name": "Nguyễn Văn A",
                   "field": "nong_thon_moi"}),
        )
        .await;
    assert_eq!(status, 201, "{nomination}");
    let id = nomination["id"].as_str().unwrap();
    for action in ["submit", "start-review"] {
        let (status, body) = ctx
            .post(
                &admin,
                &format!("/api/v1/nominations/{id}/{action}"),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{action}: {body}");
    }
    let reviewer = ctx.token(fixture::D1_REVIEWER);
    let nomination = format!("/api/v1/nominations/{id}");
    let endorse = json!({"decision": "endorse"});
    ctx.refused_to_party_then_done_by_other(
        &format!("{nomination}/reviews"),
        endorse,
        &admin,
        reviewer,
        201,
    )
    .await;
    ctx.refused_to_party_then_done_by_other(
        &format!("{nomination}/recognize"),
        json!({}),
        &admin,
        reviewer,
        200,
    )
    .await;
    let commend = json!({"form": "giay_khen", "issuer_organization_id": ctx.fixture.tree.d1.id,
                         "decision_no": "12/QĐ-UBND", "decided_on": "2022-12-20"});
    ctx.refused_to_party_then_done_by_other(
        &format!("{nomination}/commend"),
        commend,
        &admin,
        reviewer,
        200,
    )
    .await;
}

#[tokio::test]
async fn a_partner_client_with_only_progress_write_reports_progress_but_reads_nothing() {
    let ctx = new_ctx().await;
    let id = ctx.approved_pledge().await;
    let admin = ctx.token(fixture::ADMIN).to_owned();
    let (status, client) = ctx
        .post(
            &admin,
            "/api/v1/clients",
            json!({"name": "Cổng báo cáo", "organization_id": ctx.fixture.tree.d1.id,
                   "scopes": ["progress:write"]}),
        )
        .await;
    assert_eq!(status, 201, "{client}");
    let response = ctx
        .app
        .http
        .post(ctx.app.url("/api/v1/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client["id"].as_str().unwrap()),
            ("client_secret", client["client_secret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    let (status, token) = status_and_json(response).await;
    assert_eq!(status, 200, "{token}");
    let token = token["access_token"].as_str().unwrap();

    let pledge = format!("/api/v1/pledges/{id}");
    let report = json!({"reported_on": "2022-06-30", "percent": 40});
    let (status, body) = ctx.post(token, &format!("{pledge}/progress"), report).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = ctx.app.get_json(&pledge, token).await;
    assert_eq!(status, 404, "reporting does not grant reading");
    let (status, _) = ctx.app.get_json("/api/v1/pledges", token).await;
    assert_eq!(status, 403);
}

// ---------------------------------------------------------------------------------------------

/// Text a spreadsheet would run: a formula sign first (a leading minus only when the cell is
/// not simply a negative number).
fn formula_like(cell: &str) -> bool {
    cell.starts_with(['=', '+', '@', '\t', '\r'])
        || (cell.starts_with('-') && cell.parse::<f64>().is_err())
}

const FORMULA: &str = "=HYPERLINK(\"http://evil.example\",\"x\")";

/// Every text column of the pledge and nomination exports carries a formula; not one cell
/// of either format starts with one.
#[tokio::test]
async fn every_text_cell_of_every_export_is_neutralized_in_csv_and_xlsx() {
    let ctx = new_ctx().await;
    // Names of units are text too.
    ctx.app
        .db
        .execute_sql(&format!(
            "UPDATE organizations SET name = '{}' WHERE id = '{}'",
            FORMULA.replace('\'', "''"),
            ctx.fixture.tree.c1.id
        ))
        .await;
    ctx.c1_submitted_pledge(
        json!({"title": FORMULA, "target_unit": "@SUM(A1)", "target_value": 2.5,
               "description": FORMULA}),
    )
    .await;
    ctx.c1_submitted_pledge(json!({"kind": "title", "title_name": "+1+1", "title": "-1"}))
        .await;
    ctx.c1_collective_nomination(
        json!({"nominee_name": FORMULA, "nominee_position": "@Chủ nhiệm", "achievements": "=1+1"}),
    )
    .await;

    for (path, texts) in [("/api/v1/pledges", 5), ("/api/v1/nominations", 3)] {
        let csv = ctx.admin_export(path, "text/csv").await;
        let mut reader = csv::Reader::from_reader(&csv[3..]);
        let mut neutralized = 0;
        for record in reader.records() {
            for cell in record.unwrap().iter() {
                assert!(!formula_like(cell), "{path}: CSV cell {cell:?}");
                neutralized += usize::from(cell.starts_with('\''));
            }
        }
        assert!(
            neutralized >= texts,
            "{path}: only {neutralized} neutralized cells"
        );

        let bytes = ctx.admin_export(path, XLSX).await;
        let mut workbook: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let sheets = calamine::Reader::sheet_names(&workbook);
        assert_eq!(sheets.len(), 1);
        let range = calamine::Reader::worksheet_range(&mut workbook, &sheets[0]).unwrap();
        let mut neutralized = 0;
        let mut numbers = 0;
        for cell in range.used_cells() {
            match cell.2 {
                calamine::Data::String(text) => {
                    assert!(
                        !text.starts_with(['=', '+', '-', '@', '\t', '\r']),
                        "{path}: XLSX cell {text:?}"
                    );
                    neutralized += usize::from(text.starts_with('\''));
                }
                calamine::Data::Float(_) | calamine::Data::Int(_) => numbers += 1,
                _ => {}
            }
        }
        assert!(
            neutralized >= texts,
            "{path}: only {neutralized} neutralized XLSX cells"
        );
        assert!(
            numbers >= 2,
            "{path}: years and counts are numbers, got {numbers}"
        );
    }
}

#[tokio::test]
async fn a_spreadsheet_has_a_named_sheet_typed_numbers_and_dates() {
    let ctx = new_ctx().await;
    ctx.c1_submitted_pledge(json!({"target_value": 2.5, "target_unit": "%"}))
        .await;
    let bytes = ctx.admin_export("/api/v1/pledges", XLSX).await;
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(
        calamine::Reader::sheet_names(&workbook),
        vec!["Đăng ký thi đua"]
    );
    let range = calamine::Reader::worksheet_range(&mut workbook, "Đăng ký thi đua").unwrap();
    let header: Vec<String> = range
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let row = range.rows().nth(1).unwrap();
    let column = |name: &str| &row[header.iter().position(|h| h == name).unwrap()];
    assert_eq!(column("year"), &calamine::Data::Float(2022.0));
    assert_eq!(column("target_value"), &calamine::Data::Float(2.5));
    assert!(
        matches!(column("deadline"), calamine::Data::DateTime(_)),
        "{:?}",
        column("deadline")
    );
    assert_eq!(column("overdue"), &calamine::Data::Bool(true));
    assert_eq!(
        column("title"),
        &calamine::Data::String("Hoàn thành chỉ tiêu giao thông".into())
    );
}

/// One part of a workbook (a zip of XML files), as text.
fn xlsx_part(bytes: &[u8], name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    std::io::read_to_string(archive.by_name(name).unwrap()).unwrap()
}

/// The value of attribute `name` in the XML text of one element.
fn attribute<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!("{name}=\"");
    let mut from = 0;
    loop {
        let at = from + element[from..].find(&needle)?;
        if at == 0 || element.as_bytes()[at - 1] == b' ' {
            return element[at + needle.len()..].split('"').next();
        }
        from = at + 1;
    }
}

/// The elements `<tag ...>` inside `<section>...</section>` of `xml`, in order.
fn elements<'a>(xml: &'a str, section: &str, tag: &str) -> Vec<&'a str> {
    let start = xml.find(&format!("<{section}")).unwrap();
    let end = start + xml[start..].find(&format!("</{section}>")).unwrap();
    xml[start..end]
        .split(&format!("<{tag} "))
        .skip(1)
        .map(|element| element.split('>').next().unwrap())
        .collect()
}

/// Column letters of a 0-based index (A … Z, AA …).
fn column_letters(index: usize) -> String {
    let mut letters = String::new();
    let mut rest = index + 1;
    while rest > 0 {
        letters.insert(0, char::from(b'A' + u8::try_from((rest - 1) % 26).unwrap()));
        rest = (rest - 1) / 26;
    }
    letters
}

/// What an officer sees on opening either export in Excel or LibreOffice: the header row bold,
/// frozen and filtered, and every column wide enough for its header (with the filter button)
/// and for its values (up to 60 characters, beyond which text may wrap or overflow).
#[tokio::test]
async fn a_spreadsheet_opens_with_a_bold_frozen_filtered_header_and_columns_that_fit() {
    let ctx = new_ctx().await;
    ctx.c1_submitted_pledge(json!({"target_value": 2.5, "target_unit": "km đường"}))
        .await;
    ctx.c1_collective_nomination(json!({
        "nominee_name": "Chi bộ ấp Mỹ Hòa thực hiện tốt việc dân vận khéo",
        "nominee_position": "Bí thư chi bộ",
        "achievements": "Hoàn thành vượt mức chỉ tiêu"}))
        .await;

    for path in ["/api/v1/pledges", "/api/v1/nominations"] {
        let bytes = ctx.admin_export(path, XLSX).await;
        let sheet = xlsx_part(&bytes, "xl/worksheets/sheet1.xml");
        let styles = xlsx_part(&bytes, "xl/styles.xml");
        let mut workbook: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let name = calamine::Reader::sheet_names(&workbook)[0].clone();
        let range = calamine::Reader::worksheet_range(&mut workbook, &name).unwrap();
        let rows: Vec<&[calamine::Data]> = range.rows().collect();
        let header: Vec<String> = rows[0].iter().map(ToString::to_string).collect();
        assert_eq!(rows.len(), 2, "{path}: the header and one row");

        let pane = sheet
            .split("<pane ")
            .nth(1)
            .unwrap()
            .split('>')
            .next()
            .unwrap();
        assert_eq!(attribute(pane, "ySplit"), Some("1"), "{path}: {pane}");
        assert_eq!(attribute(pane, "state"), Some("frozen"), "{path}: {pane}");
        let filter = sheet.split("<autoFilter ").nth(1).unwrap();
        let last = column_letters(header.len() - 1);
        assert_eq!(
            attribute(filter, "ref"),
            Some(format!("A1:{last}2").as_str()),
            "{path}: the filter spans the header and every row"
        );

        let formats = elements(&styles, "cellXfs", "xf");
        let font_blocks: Vec<&str> = styles
            .split("<fonts")
            .nth(1)
            .unwrap()
            .split("</fonts>")
            .next()
            .unwrap()
            .split("<font>")
            .skip(1)
            .collect();
        let header_cells: Vec<&str> = sheet
            .split("<row r=\"1\"")
            .nth(1)
            .unwrap()
            .split("</row>")
            .next()
            .unwrap()
            .split("<c ")
            .skip(1)
            .map(|cell| cell.split('>').next().unwrap())
            .collect();
        assert_eq!(header_cells.len(), header.len(), "{path}");
        for cell in header_cells {
            let style: usize = attribute(cell, "s").unwrap_or("0").parse().unwrap();
            let font: usize = attribute(formats[style], "fontId")
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                font_blocks[font].contains("<b/>"),
                "{path}: header cell {cell} is not bold"
            );
        }

        // Neighbouring columns of one width are one `<col min max>`.
        let widths: Vec<f64> = elements(&sheet, "cols", "col")
            .iter()
            .flat_map(|col| {
                let number = |name| attribute(col, name).unwrap().parse::<usize>().unwrap();
                let width: f64 = attribute(col, "width").unwrap().parse().unwrap();
                (number("min")..=number("max")).map(move |_| width)
            })
            .collect();
        assert_eq!(
            widths.len(),
            header.len(),
            "{path}: every column has a width"
        );
        for (index, name) in header.iter().enumerate() {
            let value = match &rows[1][index] {
                calamine::Data::String(text) => text.chars().count(),
                calamine::Data::Float(number) => number.to_string().len(),
                _ => 0,
            };
            let needed = (name.chars().count() + 3).max(value.min(60));
            #[allow(clippy::cast_precision_loss)]
            let needed = needed as f64;
            assert!(
                widths[index] >= needed,
                "{path}: column {name} is {} wide, needs {needed}",
                widths[index]
            );
        }
    }
}

/// The exports at their own paths answer what `Accept` on the list answers (which still
/// works), with the list's filters and refusals.
#[tokio::test]
async fn the_export_paths_answer_what_the_negotiated_list_answers() {
    let ctx = new_ctx().await;
    ctx.c1_submitted_pledge(json!({})).await;
    let admin = ctx.token(fixture::ADMIN);
    let get = |path: String, accept: Option<&'static str>| {
        let mut request = ctx.app.request(Method::GET, &path, Some(admin));
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        async move { request.send().await.unwrap() }
    };
    for list in ["/api/v1/pledges", "/api/v1/nominations"] {
        let explicit = get(format!("{list}/export.csv?year=2022"), None).await;
        assert_eq!(explicit.status(), 200, "{list}");
        assert!(
            explicit.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let negotiated = get(format!("{list}?year=2022"), Some("text/csv")).await;
        assert_eq!(negotiated.status(), 200);
        assert_eq!(
            explicit.bytes().await.unwrap(),
            negotiated.bytes().await.unwrap(),
            "{list}"
        );

        let workbook = get(format!("{list}/export.xlsx"), None).await;
        assert_eq!(workbook.status(), 200);
        assert_eq!(workbook.headers()["content-type"], XLSX);
        let bytes = workbook.bytes().await.unwrap();
        let workbook: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
        assert_eq!(calamine::Reader::sheet_names(&workbook).len(), 1);

        let (status, problem) =
            status_and_json(get(format!("{list}/export.csv?colour=red"), None).await).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (400, Some("invalid_query"))
        );
        let (status, _) = status_and_json(
            ctx.app
                .request(Method::GET, &format!("{list}/export.csv"), None)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 401);
    }
    // Content negotiation on the list still works, and JSON stays the default.
    let (status, page) = status_and_json(get("/api/v1/pledges".to_owned(), None).await).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

/// The nomination export fails like the pledge export when the database stops answering
/// after the first page: a broken download, never a short file taken for complete.
#[tokio::test]
async fn a_nomination_csv_that_fails_midway_is_never_a_short_file() {
    let ctx = new_ctx().await;
    let creator = ctx.fixture.users[fixture::ADMIN];
    ctx.app.db.execute_sql(&format!(
            "INSERT INTO nominations (id, campaign_id, nominating_organization_id, organization_path, \
             root_organization_id, year, nominee_type, nominee_name, field, created_by, created_at) \
             SELECT gen_random_uuid(), '{campaign}', '{unit}', '{path}', '{root}', 2022, 'individual', \
             'Người số ' || n, 'nong_thon_moi', '{creator}', now() - make_interval(secs => n) \
             FROM generate_series(1, 3000) AS n",
            campaign = ctx.campaign,
            unit = ctx.fixture.tree.c2.id,
            path = ctx.fixture.tree.c2.path,
            root = ctx.fixture.tree.p.id,
        ))
.await;
    ctx.assert_a_csv_failing_midway_is_never_short(
        "/api/v1/nominations",
        ctx.token(fixture::C2_MANAGER),
        3001,
    )
    .await;
}
