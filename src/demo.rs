//! The demonstration data, in two halves.
//!
//! 1. The Ba Tri story of 2022 (docs/design.md §1): Bến Tre → Ba Tri → its communes and hamlet
//!    party cells, the "Đồng khởi mới" campaign, and one user per role. The province, the
//!    district and the communes carry their real codes of before 1/7/2025.
//! 2. The reform of 1/7/2025, applied through the same code path as `thidua import-units`
//!    (`restructurings::import`, hence `POST /restructurings`) over the new Tỉnh Vĩnh Long's part
//!    of data/vn-admin-2025/merges.json (`src/demo/vinh-long-2025.json`, made with
//!    `jq -c '{data: [.data[] | select(.level1_id == "86")]}' merges.json`): Bến Tre ends with
//!    successor Tỉnh Vĩnh Long, Ba Tri is dissolved, Mỹ Hòa goes into Xã Mỹ Chánh Hòa, and so on;
//!    then the province's 2026 campaign with a few pledges of the new communes.
//!
//! Loading is idempotent: every organization is found by its code before it is created, and a
//! reform applied before is not applied again.

use anyhow::Context;
use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth::principal::Role;
use crate::db::schema::{campaigns, organizations};
use crate::error::AppError;
use crate::organizations::dto::OrganizationKind;
use crate::organizations::model::OrganizationRow;
use crate::organizations::repo;
use crate::state::AppState;
use crate::users::repo::ensure_user;

/// The title cycle of Xã Mỹ Chánh Hòa at the end of 2025.
pub mod titles;

pub const ADMIN_PASSWORD: &str = "admin-demo-2022";
pub const CAMPAIGN_CODE: &str = "DONG-KHOI-MOI";
/// The year of the Ba Tri report.
pub const DEMO_YEAR: i32 = 2022;
/// The campaign of the new province, and the year of its pledges.
pub const NEW_CAMPAIGN_CODE: &str = "VINH-LONG-2026-2030";
pub const NEW_YEAR: i32 = 2026;
/// The new Tỉnh Vĩnh Long's part of data/vn-admin-2025/merges.json.
const VINH_LONG_2025: &str = include_str!("demo/vinh-long-2025.json");

/// (code, parent code, kind, name)
const TREE: &[(&str, Option<&str>, OrganizationKind, &str)] = &[
    ("83", None, OrganizationKind::Province, "Tỉnh Bến Tre"),
    (
        "836",
        Some("83"),
        OrganizationKind::District,
        "Huyện Ba Tri",
    ),
    ("29116", Some("836"), OrganizationKind::Commune, "Xã Mỹ Hòa"),
    (
        "29131",
        Some("836"),
        OrganizationKind::Commune,
        "Xã Mỹ Thạnh",
    ),
    (
        "29128",
        Some("836"),
        OrganizationKind::Commune,
        "Xã An Phú Trung",
    ),
    ("29173", Some("836"), OrganizationKind::Commune, "Xã An Đức"),
    (
        "29176",
        Some("836"),
        OrganizationKind::Commune,
        "Xã An Hòa Tây",
    ),
    (
        "29119",
        Some("836"),
        OrganizationKind::Commune,
        "Xã Tân Xuân",
    ),
    (
        "29125",
        Some("836"),
        OrganizationKind::Commune,
        "Xã Bảo Thạnh",
    ),
    // Mỹ Hòa's five hamlet party cells (the party-building pilot).
    (
        "29116-CB-MYHOA",
        Some("29116"),
        OrganizationKind::PartyCell,
        "Chi bộ ấp Mỹ Hòa",
    ),
    (
        "29116-CB-MYTHUAN",
        Some("29116"),
        OrganizationKind::PartyCell,
        "Chi bộ ấp Mỹ Thuận",
    ),
    (
        "29116-CB-MYTHANH",
        Some("29116"),
        OrganizationKind::PartyCell,
        "Chi bộ ấp Mỹ Thạnh",
    ),
    (
        "29116-CB-MYPHU",
        Some("29116"),
        OrganizationKind::PartyCell,
        "Chi bộ ấp Mỹ Phú",
    ),
    (
        "29116-CB-MYLOI",
        Some("29116"),
        OrganizationKind::PartyCell,
        "Chi bộ ấp Mỹ Lợi",
    ),
    // The other two pilot cells.
    (
        "29173-CB-GIONGKE",
        Some("29173"),
        OrganizationKind::PartyCell,
        "Chi bộ ấp Giồng Ké",
    ),
    (
        "29128-CB-ANHOA",
        Some("29128"),
        OrganizationKind::PartyCell,
        "Chi bộ ấp An Hòa",
    ),
];

/// (username, display name, password, organization code, role)
pub const USERS: &[(&str, &str, &str, &str, Role)] = &[
    (
        "admin",
        "Quản trị hệ thống",
        ADMIN_PASSWORD,
        "83",
        Role::Admin,
    ),
    (
        "bt.manager",
        "Ban Thi đua huyện Ba Tri",
        "manager-demo-2022",
        "836",
        Role::Manager,
    ),
    (
        "bt.reviewer",
        "Hội đồng Thi đua huyện Ba Tri",
        "reviewer-demo-2022",
        "836",
        Role::Reviewer,
    ),
    (
        "myhoa.manager",
        "Cán bộ thi đua xã Mỹ Hòa",
        "manager-demo-2022",
        "29116",
        Role::Manager,
    ),
    (
        "myhoa.member",
        "Cán bộ ấp Mỹ Hòa",
        "member-demo-2022",
        "29116",
        Role::Member,
    ),
];

/// Loads (or completes) the demo data: the 2022 story, the reform of 1/7/2025, and 2026.
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    seed_before_reform(state).await?;
    let mut conn = state.db.write().await?;
    for outcome in
        crate::restructurings::import::run_json(&mut conn, VINH_LONG_2025, Some("86"), false)
            .await
            .context("applying the reform of 1/7/2025 to the demo")?
    {
        tracing::info!(
            "{}",
            crate::restructurings::import::summary(&outcome, false)
        );
    }
    conn.transaction::<_, AppError, _>(async move |conn| seed_after_reform(conn).await)
        .await
        .map_err(|error| anyhow::anyhow!("loading the demo's 2026: {error:?}"))?;
    tracing::info!("demo data loaded");
    Ok(())
}

/// The 2026 pledges of three new communes: (code, field, title, status). Xã Mỹ Chánh Hòa, where
/// the demo's commune officer works now, is left for the README's walkthrough to register.
const NEW_PLEDGES: &[(&str, &str, &str, &str)] = &[
    (
        "29167",
        "xay_dung_dang",
        "Nhân rộng câu lạc bộ gương điển hình ra toàn xã Tân Thủy",
        "approved",
    ),
    (
        "29143",
        "nong_thon_moi",
        "Giữ vững tiêu chí nông thôn mới nâng cao sau sáp nhập",
        "submitted",
    ),
    ("29110", "giam_ngheo", "Giảm 1% hộ nghèo", "approved"),
];

/// The new province's campaign and the 2026 pledges of its new communes.
async fn seed_after_reform(conn: &mut AsyncPgConnection) -> Result<(), AppError> {
    let missing = |what: &str| AppError::internal(anyhow::anyhow!("demo: no {what}"));
    let province = new_unit(conn, "86")
        .await?
        .ok_or_else(|| missing("Tỉnh Vĩnh Long"))?;
    let root = repo::root_of(conn, &province.path).await?;
    let campaign = ensure_campaign(conn, province.id, &NEW_CAMPAIGN).await?;
    let admin = crate::users::repo::find_by_username(conn, "admin")
        .await?
        .map(|user| user.id)
        .ok_or_else(|| missing("admin"))?;
    for &(code, field, title, status) in NEW_PLEDGES {
        let commune = new_unit(conn, code).await?.ok_or_else(|| missing(code))?;
        let pledge = target(code, field, title, status);
        ensure_pledge(conn, campaign, &commune, root, admin, &pledge, NEW_YEAR).await?;
    }
    let commune = new_unit(conn, titles::COMMUNE_CODE)
        .await?
        .ok_or_else(|| missing("Xã Mỹ Chánh Hòa"))?;
    titles::seed(conn, &commune).await?;
    titles::seed_decisions(conn, &commune).await
}

/// The unit of the reform holding `code` (valid from 1/7/2025).
async fn new_unit(
    conn: &mut AsyncPgConnection,
    code: &str,
) -> Result<Option<OrganizationRow>, AppError> {
    Ok(organizations::table
        .filter(organizations::code.eq(code))
        .filter(organizations::valid_from.eq(crate::restructurings::import::reform_day()))
        .select(OrganizationRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Loads (or completes) the 2022 story only: the tree as it stood before 1/7/2025.
pub async fn seed_before_reform(state: &AppState) -> anyhow::Result<()> {
    let mut hashes = Vec::with_capacity(USERS.len());
    for (_, _, password, _, _) in USERS {
        hashes.push(
            state
                .passwords
                .hash(password)
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?,
        );
    }
    let mut conn = state.db.write().await?;
    conn.transaction::<_, AppError, _>(async move |conn| {
        let mut ids = std::collections::HashMap::new();
        // One tree: a root made before (by `create-admin` on an empty database) gets Bến Tre
        // below it instead of a second root beside it.
        let existing_root = first_root(conn).await?;
        for (code, parent_code, kind, name) in TREE {
            let parent = match parent_code {
                Some(parent_code) => ids.get(parent_code),
                None => existing_root.as_ref(),
            };
            let row = ensure_organization(conn, code, parent, *kind, name).await?;
            ids.insert(*code, row);
        }
        let province = ids
            .get("83")
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("no province")))?;
        let owner = province.id;
        let root = repo::root_of(conn, &province.path).await?;
        let campaign = ensure_campaign(conn, owner, &OLD_CAMPAIGN).await?;
        for ((username, display_name, _, organization_code, role), hash) in
            USERS.iter().zip(&hashes)
        {
            let organization = ids.get(organization_code).ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("unknown code {organization_code}"))
            })?;
            // After the reform the user's membership went to the successor: keep it there.
            let moved_on = organization.valid_to.is_some()
                && crate::users::repo::find_by_username(conn, username)
                    .await?
                    .is_some();
            if !moved_on {
                ensure_user(conn, username, display_name, hash, organization.id, *role).await?;
            }
        }
        let admin = crate::users::repo::find_by_username(conn, "admin")
            .await?
            .map(|user| user.id)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("no admin")))?;
        for pledge in PLEDGES {
            let organization = ids.get(pledge.organization).ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("unknown code {}", pledge.organization))
            })?;
            ensure_pledge(conn, campaign, organization, root, admin, pledge, DEMO_YEAR).await?;
        }
        let club = ensure_club(conn, campaign, &ids, root, admin).await?;
        for (code, relation, title) in FOLLOWERS {
            let organization = ids
                .get(code)
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("unknown code {code}")))?;
            let pledge = DemoPledge {
                organization: code,
                kind: "target",
                field: "xay_dung_dang",
                title,
                title_name: None,
                status: "approved",
                result: None,
            };
            ensure_pledge(
                conn,
                campaign,
                organization,
                root,
                admin,
                &pledge,
                DEMO_YEAR,
            )
            .await?;
            use crate::db::schema::pledges;
            diesel::update(
                pledges::table
                    .filter(pledges::organization_id.eq(organization.id))
                    .filter(pledges::title.eq(*title)),
            )
            .set((
                pledges::exemplar_id.eq(club),
                pledges::exemplar_relation.eq(*relation),
            ))
            .execute(conn)
            .await?;
        }
        Ok(())
    })
    .await
    .map_err(|error| anyhow::anyhow!("loading demo data: {error:?}"))?;
    Ok(())
}

/// A pledge of the 2022 story, already at its final state.
struct DemoPledge {
    organization: &'static str,
    kind: &'static str,
    field: &'static str,
    title: &'static str,
    title_name: Option<&'static str>,
    status: &'static str,
    result: Option<&'static str>,
}

const CELL_TITLE: &str = "Chi bộ trong sạch, vững mạnh toàn diện";

const fn target(
    organization: &'static str,
    field: &'static str,
    title: &'static str,
    status: &'static str,
) -> DemoPledge {
    DemoPledge {
        organization,
        kind: "target",
        field,
        title,
        title_name: None,
        status,
        result: None,
    }
}

const fn title(
    organization: &'static str,
    field: &'static str,
    name: &'static str,
    result: &'static str,
) -> DemoPledge {
    DemoPledge {
        organization,
        kind: "title",
        field,
        title: name,
        title_name: Some(name),
        status: "assessed",
        result: Some(result),
    }
}

/// Every commune of Ba Tri registered (100%); 4/5 of Mỹ Hòa's cells and the 3 pilot cells
/// attained the clean-and-strong title; Mỹ Thạnh and An Phú Trung their new-rural titles.
const PLEDGES: &[DemoPledge] = &[
    target(
        "29116",
        "xay_dung_dang",
        "Xây dựng câu lạc bộ \"Gương điển hình học tập và làm theo Bác\"",
        "approved",
    ),
    target(
        "29131",
        "nong_thon_moi",
        "Hoàn thành 19/19 tiêu chí xã nông thôn mới",
        "approved",
    ),
    target(
        "29128",
        "nong_thon_moi",
        "Nâng chất các tiêu chí nông thôn mới nâng cao",
        "approved",
    ),
    target(
        "29173",
        "giam_ngheo",
        "Giảm 1,5% hộ nghèo trong năm",
        "approved",
    ),
    target(
        "29176",
        "van_hoa",
        "95% ấp đạt danh hiệu ấp văn hóa",
        "submitted",
    ),
    target(
        "29119",
        "cong_nghiep",
        "Thu hút 2 dự án đầu tư vào cụm công nghiệp",
        "submitted",
    ),
    target(
        "29125",
        "do_thi",
        "Chỉnh trang đô thị trung tâm xã",
        "approved",
    ),
    title("29116-CB-MYHOA", "xay_dung_dang", CELL_TITLE, "achieved"),
    title("29116-CB-MYTHUAN", "xay_dung_dang", CELL_TITLE, "exceeded"),
    title("29116-CB-MYTHANH", "xay_dung_dang", CELL_TITLE, "achieved"),
    title("29116-CB-MYPHU", "xay_dung_dang", CELL_TITLE, "achieved"),
    title(
        "29116-CB-MYLOI",
        "xay_dung_dang",
        CELL_TITLE,
        "partially_achieved",
    ),
    title("29173-CB-GIONGKE", "xay_dung_dang", CELL_TITLE, "achieved"),
    title("29128-CB-ANHOA", "xay_dung_dang", CELL_TITLE, "achieved"),
    title("29131", "nong_thon_moi", "Xã nông thôn mới", "achieved"),
    title(
        "29128",
        "nong_thon_moi",
        "Xã nông thôn mới nâng cao",
        "achieved",
    ),
];

async fn ensure_pledge(
    conn: &mut AsyncPgConnection,
    campaign: Uuid,
    organization: &OrganizationRow,
    root: Uuid,
    creator: Uuid,
    pledge: &DemoPledge,
    year: i32,
) -> Result<(), AppError> {
    use crate::db::schema::pledges;
    let exists: bool = diesel::select(diesel::dsl::exists(
        pledges::table
            .filter(pledges::organization_id.eq(organization.id))
            .filter(pledges::campaign_id.eq(campaign))
            .filter(pledges::year.eq(year))
            .filter(pledges::title.eq(pledge.title)),
    ))
    .get_result(conn)
    .await?;
    if exists {
        return Ok(());
    }
    let now = chrono::Utc::now();
    let submitted = pledge.status != "draft";
    let approved = matches!(pledge.status, "approved" | "assessed");
    diesel::insert_into(pledges::table)
        .values((
            pledges::id.eq(Uuid::now_v7()),
            pledges::campaign_id.eq(campaign),
            pledges::organization_id.eq(organization.id),
            pledges::organization_path.eq(&organization.path),
            pledges::root_organization_id.eq(root),
            pledges::year.eq(year),
            pledges::kind.eq(pledge.kind),
            pledges::field.eq(pledge.field),
            pledges::title.eq(pledge.title),
            pledges::title_name.eq(pledge.title_name),
            pledges::deadline.eq(NaiveDate::from_ymd_opt(year, 12, 15).unwrap_or_default()),
            pledges::status.eq(pledge.status),
            pledges::result.eq(pledge.result),
            pledges::submitted_at.eq(submitted.then_some(now)),
            pledges::approved_at.eq(approved.then_some(now)),
            pledges::assessed_at.eq((pledge.status == "assessed").then_some(now)),
            pledges::created_by.eq(creator),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub const CLUB_NAME: &str = "Câu lạc bộ Gương điển hình học tập và làm theo Bác";

/// Units that follow the club: (code, relation, pledge title).
const FOLLOWERS: &[(&str, &str, &str)] = &[
    (
        "29173",
        "learn",
        "Học tập mô hình câu lạc bộ gương điển hình của xã Mỹ Hòa",
    ),
    (
        "29119",
        "catch_up",
        "Bắt kịp mô hình câu lạc bộ gương điển hình Mỹ Hòa",
    ),
];

/// Mỹ Hòa's 39-member club, commended by Ba Tri in 2022: an exemplar others follow.
async fn ensure_club(
    conn: &mut AsyncPgConnection,
    campaign: Uuid,
    ids: &std::collections::HashMap<&str, OrganizationRow>,
    root: Uuid,
    creator: Uuid,
) -> Result<Uuid, AppError> {
    use crate::db::schema::nominations;
    let missing = || AppError::internal(anyhow::anyhow!("demo tree incomplete"));
    let my_hoa = ids.get("29116").ok_or_else(missing)?;
    let ba_tri = ids.get("836").ok_or_else(missing)?;
    let existing: Option<Uuid> = nominations::table
        .filter(nominations::nominating_organization_id.eq(my_hoa.id))
        .filter(nominations::campaign_id.eq(campaign))
        .filter(nominations::year.eq(DEMO_YEAR))
        .filter(nominations::nominee_name.eq(CLUB_NAME))
        .select(nominations::id)
        .first(conn)
        .await
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id = Uuid::now_v7();
    let now = chrono::Utc::now();
    diesel::insert_into(nominations::table)
        .values((
            nominations::id.eq(id),
            nominations::campaign_id.eq(campaign),
            nominations::nominating_organization_id.eq(my_hoa.id),
            nominations::organization_path.eq(&my_hoa.path),
            nominations::root_organization_id.eq(root),
            nominations::year.eq(DEMO_YEAR),
            nominations::nominee_type.eq("collective"),
            nominations::nominee_name.eq(CLUB_NAME),
            nominations::member_count.eq(39),
            nominations::field.eq("xay_dung_dang"),
            nominations::achievements.eq(
                "39 thành viên gương mẫu học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh",
            ),
            nominations::status.eq("commended"),
            nominations::commendation_form.eq("giay_khen"),
            nominations::issuer_organization_id.eq(ba_tri.id),
            nominations::decision_no.eq("118/QĐ-UBND"),
            nominations::decided_on.eq(NaiveDate::from_ymd_opt(DEMO_YEAR, 12, 20).unwrap_or_default()),
            nominations::submitted_at.eq(now),
            nominations::review_started_at.eq(now),
            nominations::recognized_at.eq(now),
            nominations::commended_at.eq(now),
            nominations::created_by.eq(creator),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// The first root organization, when there is one and it is not the demo's own.
async fn first_root(conn: &mut AsyncPgConnection) -> Result<Option<OrganizationRow>, AppError> {
    Ok(organizations::table
        .filter(organizations::parent_id.is_null())
        .filter(organizations::code.is_distinct_from("83"))
        .filter(organizations::valid_from.is_null())
        .order(organizations::seq.asc())
        .select(OrganizationRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

async fn ensure_organization(
    conn: &mut AsyncPgConnection,
    code: &str,
    parent: Option<&OrganizationRow>,
    kind: OrganizationKind,
    name: &str,
) -> Result<OrganizationRow, AppError> {
    // The unit of the 2022 tree (valid since before the reform), never the new unit that
    // reuses its code (new Xã Bảo Thạnh is 29125 too).
    let existing: Option<OrganizationRow> = organizations::table
        .filter(organizations::code.eq(code))
        .filter(organizations::valid_from.is_null())
        .select(OrganizationRow::as_select())
        .first(conn)
        .await
        .optional()?;
    match existing {
        Some(row) => Ok(row),
        None => Ok(repo::insert(conn, parent, kind, name, Some(code)).await?),
    }
}

/// A campaign of the demo.
struct DemoCampaign {
    code: &'static str,
    name: &'static str,
    directive: &'static str,
    starts_on: (i32, u32, u32),
    ends_on: (i32, u32, u32),
    description: &'static str,
}

const OLD_CAMPAIGN: DemoCampaign = DemoCampaign {
    code: CAMPAIGN_CODE,
    name: "Phong trào thi đua \"Đồng khởi mới\"",
    directive: "Chỉ thị 01-CT/TU ngày 17/10/2020 của Tỉnh ủy Bến Tre",
    starts_on: (2020, 10, 17),
    ends_on: (2025, 12, 31),
    description: "Xây dựng, học tập, bắt kịp, vượt qua điển hình. Trọng tâm \"Hai chân\" và \"Ba mũi\".",
};

const NEW_CAMPAIGN: DemoCampaign = DemoCampaign {
    code: NEW_CAMPAIGN_CODE,
    name: "Phong trào thi đua yêu nước tỉnh Vĩnh Long giai đoạn 2026–2030",
    directive: "Kế hoạch thi đua của Ủy ban nhân dân tỉnh Vĩnh Long (tỉnh mới từ 1/7/2025)",
    starts_on: (2026, 1, 1),
    ends_on: (2030, 12, 31),
    description: "Đoàn kết, đổi mới sau sáp nhập: chính quyền hai cấp gần dân, xã mới vững mạnh.",
};

async fn ensure_campaign(
    conn: &mut AsyncPgConnection,
    owner: Uuid,
    campaign: &DemoCampaign,
) -> Result<Uuid, AppError> {
    let existing: Option<Uuid> = campaigns::table
        .filter(campaigns::code.eq(campaign.code))
        .select(campaigns::id)
        .first(conn)
        .await
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let fields = serde_json::json!([
        {"code": "xay_dung_dang", "name": "Xây dựng Đảng và hệ thống chính trị"},
        {"code": "nong_thon_moi", "name": "Xây dựng nông thôn mới"},
        {"code": "do_thi", "name": "Phát triển đô thị"},
        {"code": "giam_ngheo", "name": "Giảm nghèo bền vững"},
        {"code": "van_hoa", "name": "Văn hóa và con người"},
        {"code": "cong_nghiep", "name": "Công nghiệp và thu hút đầu tư"},
    ]);
    let id = Uuid::now_v7();
    let date = |(year, month, day): (i32, u32, u32)| {
        NaiveDate::from_ymd_opt(year, month, day)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("date")))
    };
    let starts_on = date(campaign.starts_on)?;
    let ends_on = date(campaign.ends_on)?;
    diesel::insert_into(campaigns::table)
        .values((
            campaigns::id.eq(id),
            campaigns::code.eq(campaign.code),
            campaigns::name.eq(campaign.name),
            campaigns::directive.eq(campaign.directive),
            campaigns::owner_organization_id.eq(owner),
            campaigns::starts_on.eq(starts_on),
            campaigns::ends_on.eq(ends_on),
            campaigns::vision_year.eq(2030),
            campaigns::description.eq(campaign.description),
            campaigns::fields.eq(fields),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}
