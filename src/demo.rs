//! The Ba Tri demonstration data of DESIGN.md §1: Bến Tre → Ba Tri → its communes and hamlet
//! party cells, the "Đồng khởi mới" campaign, and one user per role. Loading is idempotent:
//! every organization is found by its code before it is created.

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

pub const ADMIN_PASSWORD: &str = "admin-demo-2022";
pub const CAMPAIGN_CODE: &str = "DONG-KHOI-MOI";

/// (code, parent code, kind, name)
const TREE: &[(&str, Option<&str>, OrganizationKind, &str)] = &[
    ("BT", None, OrganizationKind::Province, "Tỉnh Bến Tre"),
    (
        "BT-BATRI",
        Some("BT"),
        OrganizationKind::District,
        "Huyện Ba Tri",
    ),
    (
        "BT-BATRI-MYHOA",
        Some("BT-BATRI"),
        OrganizationKind::Commune,
        "Xã Mỹ Hòa",
    ),
    (
        "BT-BATRI-MYTHANH",
        Some("BT-BATRI"),
        OrganizationKind::Commune,
        "Xã Mỹ Thạnh",
    ),
    (
        "BT-BATRI-APT",
        Some("BT-BATRI"),
        OrganizationKind::Commune,
        "Xã An Phú Trung",
    ),
    (
        "BT-BATRI-ANDUC",
        Some("BT-BATRI"),
        OrganizationKind::Commune,
        "Xã An Đức",
    ),
    (
        "BT-BATRI-AHT",
        Some("BT-BATRI"),
        OrganizationKind::Commune,
        "Xã An Hòa Tây",
    ),
    (
        "BT-BATRI-TANXUAN",
        Some("BT-BATRI"),
        OrganizationKind::Commune,
        "Xã Tân Xuân",
    ),
    (
        "BT-BATRI-BAOTHANH",
        Some("BT-BATRI"),
        OrganizationKind::Commune,
        "Xã Bảo Thạnh",
    ),
    // Mỹ Hòa's five hamlet party cells (the party-building pilot).
    (
        "BT-BATRI-MYHOA-CB-MYHOA",
        Some("BT-BATRI-MYHOA"),
        OrganizationKind::PartyCell,
        "Chi bộ ấp Mỹ Hòa",
    ),
    (
        "BT-BATRI-MYHOA-CB-MYTHUAN",
        Some("BT-BATRI-MYHOA"),
        OrganizationKind::PartyCell,
        "Chi bộ ấp Mỹ Thuận",
    ),
    (
        "BT-BATRI-MYHOA-CB-MYTHANH",
        Some("BT-BATRI-MYHOA"),
        OrganizationKind::PartyCell,
        "Chi bộ ấp Mỹ Thạnh",
    ),
    (
        "BT-BATRI-MYHOA-CB-MYPHU",
        Some("BT-BATRI-MYHOA"),
        OrganizationKind::PartyCell,
        "Chi bộ ấp Mỹ Phú",
    ),
    (
        "BT-BATRI-MYHOA-CB-MYLOI",
        Some("BT-BATRI-MYHOA"),
        OrganizationKind::PartyCell,
        "Chi bộ ấp Mỹ Lợi",
    ),
    // The other two pilot cells.
    (
        "BT-BATRI-ANDUC-CB-GIONGKE",
        Some("BT-BATRI-ANDUC"),
        OrganizationKind::PartyCell,
        "Chi bộ ấp Giồng Ké",
    ),
    (
        "BT-BATRI-APT-CB-ANHOA",
        Some("BT-BATRI-APT"),
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
        "BT",
        Role::Admin,
    ),
    (
        "bt.manager",
        "Ban Thi đua huyện Ba Tri",
        "manager-demo-2022",
        "BT-BATRI",
        Role::Manager,
    ),
    (
        "bt.reviewer",
        "Hội đồng Thi đua huyện Ba Tri",
        "reviewer-demo-2022",
        "BT-BATRI",
        Role::Reviewer,
    ),
    (
        "myhoa.manager",
        "Cán bộ thi đua xã Mỹ Hòa",
        "manager-demo-2022",
        "BT-BATRI-MYHOA",
        Role::Manager,
    ),
    (
        "myhoa.member",
        "Cán bộ ấp Mỹ Hòa",
        "member-demo-2022",
        "BT-BATRI-MYHOA",
        Role::Member,
    ),
];

/// Loads (or completes) the demo data.
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
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
        for (code, parent_code, kind, name) in TREE {
            let row = ensure_organization(
                conn,
                code,
                parent_code.and_then(|p| ids.get(p)),
                *kind,
                name,
            )
            .await?;
            ids.insert(*code, row);
        }
        let owner = ids
            .get("BT")
            .map(|row| row.id)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("no root")))?;
        ensure_campaign(conn, owner).await?;
        for ((username, display_name, _, organization_code, role), hash) in
            USERS.iter().zip(&hashes)
        {
            let organization = ids.get(organization_code).ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("unknown code {organization_code}"))
            })?;
            ensure_user(conn, username, display_name, hash, organization.id, *role).await?;
        }
        Ok(())
    })
    .await
    .map_err(|error| anyhow::anyhow!("loading demo data: {error:?}"))?;
    tracing::info!("demo data loaded");
    Ok(())
}

async fn ensure_organization(
    conn: &mut AsyncPgConnection,
    code: &str,
    parent: Option<&OrganizationRow>,
    kind: OrganizationKind,
    name: &str,
) -> Result<OrganizationRow, AppError> {
    let existing: Option<OrganizationRow> = organizations::table
        .filter(organizations::code.eq(code))
        .select(OrganizationRow::as_select())
        .first(conn)
        .await
        .optional()?;
    match existing {
        Some(row) => Ok(row),
        None => Ok(repo::insert(conn, parent, kind, name, Some(code)).await?),
    }
}

async fn ensure_campaign(conn: &mut AsyncPgConnection, owner: Uuid) -> Result<Uuid, AppError> {
    let existing: Option<Uuid> = campaigns::table
        .filter(campaigns::code.eq(CAMPAIGN_CODE))
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
    let starts_on = NaiveDate::from_ymd_opt(2020, 10, 17)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("date")))?;
    let ends_on = NaiveDate::from_ymd_opt(2025, 12, 31)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("date")))?;
    diesel::insert_into(campaigns::table)
        .values((
            campaigns::id.eq(id),
            campaigns::code.eq(CAMPAIGN_CODE),
            campaigns::name.eq("Phong trào thi đua \"Đồng khởi mới\""),
            campaigns::directive.eq("Chỉ thị 01-CT/TU ngày 17/10/2020 của Tỉnh ủy Bến Tre"),
            campaigns::owner_organization_id.eq(owner),
            campaigns::starts_on.eq(starts_on),
            campaigns::ends_on.eq(ends_on),
            campaigns::vision_year.eq(2030),
            campaigns::description.eq(
                "Xây dựng, học tập, bắt kịp, vượt qua điển hình. Trọng tâm \"Hai chân\" và \"Ba mũi\".",
            ),
            campaigns::fields.eq(fields),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}
