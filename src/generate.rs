//! `thidua generate`: a deterministic national-scale data set for the benchmarks (docs/benchmarking.md).
//!
//! Organizations are planned in Rust from a seeded `StdRng` (ids, kinds, names, parents) and
//! inserted level by level with multi-row `INSERT … SELECT FROM unnest(…)`. Pledges, their
//! progress reports and nominations are generated inside Postgres, chunk by chunk, from
//! `generate_series`: every pseudo-random choice is `hashint8(g * prime + seed)`, so the same seed
//! and tree give the same rows, and a chunk is one statement (all or nothing). Row g depends only
//! on the seed, g and the tree, so a larger `--pledges` extends a smaller set. Re-running
//! resumes: organizations already present (by id) and chunks whose last row exists are skipped;
//! a chunk a smaller run filled in part is completed (rows are inserted `ON CONFLICT (id) DO
//! NOTHING`).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use uuid::Uuid;

use crate::config::Settings;
use crate::organizations::dto::OrganizationKind;
use crate::restructurings::import::{MergesFile, commune_kind};
use crate::stats::tallies::TallyPart;

/// Pledges (and nominations) per statement: big enough to amortize, small enough to resume.
pub const CHUNK: u64 = 100_000;
/// Organizations per INSERT.
const ORGANIZATION_BATCH: usize = 1_000;
pub const ADMIN_USERNAME: &str = "bench.admin";
pub const ADMIN_PASSWORD: &str = "bench-admin-pass";
pub const MANAGER_USERNAME: &str = "bench.province";
pub const MANAGER_PASSWORD: &str = "bench-manager-pass";
pub const FIRST_YEAR: i32 = 2020;
pub const YEARS: i32 = 6;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Every unit of the tree: the root, the provinces and communes taken from the real 2025
    /// structure, and hamlets and party cells below the communes for the rest.
    pub organizations: u32,
    /// Only the first this many of the 34 provinces (in the order of the data); None: as many as
    /// fit in `organizations` with at least one hamlet or party cell per commune.
    pub provinces: Option<u32>,
    pub pledges: u64,
    pub nominations: u64,
    /// Persons with their record, registrations and awards ([`person_chunk_sql`]).
    pub persons: u64,
    pub seed: u64,
}

const FIELDS: &[(&str, &str)] = &[
    ("xay_dung_dang", "Xây dựng Đảng và hệ thống chính trị"),
    ("nong_thon_moi", "Xây dựng nông thôn mới"),
    ("do_thi", "Phát triển đô thị"),
    ("giam_ngheo", "Giảm nghèo bền vững"),
    ("van_hoa", "Văn hóa và con người"),
    ("cong_nghiep", "Công nghiệp và thu hút đầu tư"),
];

const TITLES: &[&str] = &[
    "Chi bộ trong sạch, vững mạnh toàn diện",
    "Xã nông thôn mới",
    "Xã nông thôn mới nâng cao",
    "Ấp văn hóa",
    "Tập thể lao động xuất sắc",
    "Cờ thi đua của Ủy ban nhân dân tỉnh",
];

const TARGETS: &[&str] = &[
    "Giảm tỷ lệ hộ nghèo trong năm",
    "Hoàn thành tiêu chí xã nông thôn mới",
    "Xây dựng mô hình dân vận khéo",
    "Bê tông hóa đường giao thông nông thôn",
    "Thu hút dự án đầu tư vào cụm công nghiệp",
    "Phát triển đảng viên mới",
    "Nâng tỷ lệ hộ gia đình văn hóa",
    "Chỉnh trang đô thị trung tâm",
    "Xây dựng câu lạc bộ học tập và làm theo Bác",
    "Trồng cây xanh trên các tuyến đường",
];

const UNITS: &[&str] = &["%", "hộ", "km", "công trình", "mô hình", "đảng viên"];

/// Family, middle and given names of individual nominees. Given names stay distinct once case
/// and diacritics are folded (the nominee key of the nominations table).
const FAMILY_NAMES: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Hoàng", "Phan", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ",
    "Ngô", "Dương",
];
const MIDDLE_NAMES: &[&str] = &["Văn", "Thị", "Minh", "Hữu"];
const GIVEN_NAMES: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Em", "Giang", "Hải", "Khánh", "Lan", "Mai", "Nam", "Oanh",
    "Phúc", "Quân", "Sơn", "Tâm", "Uyên", "Vinh", "Xuân", "Yến", "Hạnh", "Kiên", "Linh", "Nga",
    "Nhung", "Thảo", "Trí", "Tuấn", "Vy", "Hùng",
];
const POSITIONS: &[&str] = &[
    "Bí thư chi bộ",
    "Trưởng ấp",
    "Hội viên nông dân",
    "Giáo viên",
    "Đoàn viên thanh niên",
    "Cán bộ hội phụ nữ",
];
const GROUPS: &[&str] = &[
    "Tổ hội nông dân",
    "Tổ phụ nữ",
    "Tổ tự quản",
    "Chi đoàn",
    "Tổ hợp tác",
    "Câu lạc bộ",
];

/// One planned organization (plan order: level by level, siblings together).
#[derive(Debug, Clone)]
struct PlannedOrganization {
    id: Uuid,
    parent: Option<usize>,
    depth: i32,
    kind: &'static str,
    name: String,
    code: String,
}

/// The provinces of the plan and how many of each one's communes (its first ones, in the order
/// of the data) it keeps: whole provinces while 1 + provinces + 2 × communes fits in `total`
/// (every commune gets at least one unit below it), or the first communes of the first province
/// when not even that one fits.
fn shape(
    units: &MergesFile,
    total: u32,
    provinces: Option<u32>,
) -> anyhow::Result<Vec<(usize, usize)>> {
    let total = total as usize;
    if total < 4 {
        bail!("--organizations must be at least 4 (a root, a province, a commune, a hamlet)");
    }
    let available = units.data.len();
    if available == 0
        || units
            .data
            .iter()
            .any(|province| province.level2s.is_empty())
    {
        bail!("the units file has no province, or a province without communes");
    }
    let needed = |count: usize| {
        let communes: usize = units.data[..count]
            .iter()
            .map(|province| province.level2s.len())
            .sum();
        1 + count + 2 * communes
    };
    let whole = |count: usize| -> Vec<(usize, usize)> {
        (0..count)
            .map(|index| (index, units.data[index].level2s.len()))
            .collect()
    };
    if let Some(asked) = provinces {
        let asked = asked as usize;
        if asked == 0 || asked > available {
            bail!("--provinces must be between 1 and {available}");
        }
        if needed(asked) > total {
            bail!(
                "{asked} province(s) need --organizations {} at least (a root, the provinces, \
                 their communes and one unit below each commune)",
                needed(asked)
            );
        }
        return Ok(whole(asked));
    }
    let fitting = (1..=available)
        .take_while(|&count| needed(count) <= total)
        .last();
    Ok(match fitting {
        Some(count) => whole(count),
        None => vec![(0, (total - 2) / 2)],
    })
}

fn random_uuid(rng: &mut StdRng) -> Uuid {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The whole tree, deterministic in `seed`, on Vietnam's real 2025 shape: root (national
/// agency) → the provinces of [`shape`] (real names) → their communes, wards and special zones
/// (real names) → hamlets (`Ấp n`, `Khu phố n` in a ward) and party cells (`Chi bộ ấp n`…),
/// one per commune and the rest spread at random. Codes are `BENCH-<seed>-<real 2025 code>`
/// (below a commune: its code and the ordinal), so several seeds can share one database. The
/// units have no validity dates: the 2025 shape stands for every year of the data set.
fn plan_organizations(
    rng: &mut StdRng,
    units: &MergesFile,
    sizes: &Sizes,
) -> anyhow::Result<Vec<PlannedOrganization>> {
    let seed = sizes.seed;
    let taken = shape(units, sizes.organizations, sizes.provinces)?;
    let mut plan = vec![PlannedOrganization {
        id: random_uuid(rng),
        parent: None,
        depth: 0,
        kind: OrganizationKind::Agency.as_str(),
        name: format!("Hội đồng Thi đua - Khen thưởng (benchmark {seed})"),
        code: format!("BENCH-{seed}"),
    }];
    for &(index, _) in &taken {
        let province = &units.data[index];
        plan.push(PlannedOrganization {
            id: random_uuid(rng),
            parent: Some(0),
            depth: 1,
            kind: OrganizationKind::Province.as_str(),
            name: province.name.clone(),
            code: format!("BENCH-{seed}-{}", province.level1_id),
        });
    }
    let mut communes: Vec<usize> = Vec::new();
    for (slot, &(index, count)) in taken.iter().enumerate() {
        for commune in &units.data[index].level2s[..count] {
            communes.push(plan.len());
            plan.push(PlannedOrganization {
                id: random_uuid(rng),
                parent: Some(1 + slot),
                depth: 2,
                kind: commune_kind(&commune.name).as_str(),
                name: commune.name.clone(),
                code: format!("BENCH-{seed}-{}", commune.level2_id),
            });
        }
    }
    let below = (sizes.organizations as usize)
        .checked_sub(plan.len())
        .filter(|count| *count >= communes.len())
        .context("the tree does not fit in --organizations")?;
    let mut assigned: Vec<usize> = (0..below)
        .map(|i| {
            if i < communes.len() {
                i
            } else {
                rng.gen_range(0..communes.len())
            }
        })
        .collect();
    assigned.sort_unstable();
    let mut ordinals = vec![0usize; communes.len()];
    for slot in assigned {
        let parent = communes[slot];
        ordinals[slot] += 1;
        let ordinal = ordinals[slot];
        let ward = plan[parent].kind == OrganizationKind::Ward.as_str();
        let (kind, name) = match (rng.gen_range(0..5) < 2, ward) {
            (true, true) => (
                OrganizationKind::PartyCell,
                format!("Chi bộ khu phố {ordinal}"),
            ),
            (true, false) => (OrganizationKind::PartyCell, format!("Chi bộ ấp {ordinal}")),
            (false, true) => (OrganizationKind::Hamlet, format!("Khu phố {ordinal}")),
            (false, false) => (OrganizationKind::Hamlet, format!("Ấp {ordinal}")),
        };
        let code = format!("{}-{ordinal:02}", plan[parent].code);
        plan.push(PlannedOrganization {
            id: random_uuid(rng),
            parent: Some(parent),
            depth: 3,
            kind: kind.as_str(),
            name,
            code,
        });
    }
    Ok(plan)
}

#[derive(QueryableByName)]
struct IdPath {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    path: String,
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    flag: bool,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct FieldsRow {
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    fields: serde_json::Value,
}

/// Inserts the organizations of `plan` that are not there yet; returns every node's path and
/// whether any was inserted.
async fn insert_organizations(
    conn: &mut AsyncPgConnection,
    plan: &[PlannedOrganization],
) -> anyhow::Result<(Vec<String>, bool)> {
    let ids: Vec<Uuid> = plan.iter().map(|node| node.id).collect();
    let existing: Vec<IdPath> = sql_query("SELECT id, path FROM organizations WHERE id = ANY($1)")
        .bind::<Array<SqlUuid>, _>(&ids)
        .load(conn)
        .await?;
    let mut paths: Vec<Option<String>> = vec![None; plan.len()];
    let index: std::collections::HashMap<Uuid, usize> = ids
        .iter()
        .enumerate()
        .map(|(position, id)| (*id, position))
        .collect();
    for row in existing {
        if let Some(&position) = index.get(&row.id) {
            paths[position] = Some(row.path);
        }
    }
    let missing: Vec<usize> = (0..plan.len())
        .filter(|&position| paths[position].is_none())
        .collect();
    println!(
        "organizations: {} planned, {} present, {} to insert",
        plan.len(),
        plan.len() - missing.len(),
        missing.len()
    );
    for batch in missing.chunks(ORGANIZATION_BATCH) {
        let count = i64::try_from(batch.len())?;
        let mut columns = OrganizationColumns::default();
        conn.transaction::<_, anyhow::Error, _>(async |conn| {
            let seqs: Vec<Seq> = sql_query(
                "SELECT nextval(pg_get_serial_sequence('organizations', 'seq')) AS seq \
                 FROM generate_series(1, $1)",
            )
            .bind::<BigInt, _>(count)
            .load(conn)
            .await?;
            for (&position, seq) in batch.iter().zip(seqs) {
                let node = &plan[position];
                let parent_path = match node.parent {
                    Some(parent) => paths[parent]
                        .clone()
                        .context("a parent is planned after its child")?,
                    None => String::new(),
                };
                let path = format!(
                    "{parent_path}{}",
                    crate::organizations::model::path_label(seq.seq)
                );
                columns.push(
                    node,
                    seq.seq,
                    node.parent.map(|parent| plan[parent].id),
                    &path,
                );
                paths[position] = Some(path);
            }
            sql_query(
                "INSERT INTO organizations (id, seq, parent_id, kind, name, code, path, depth) \
                 SELECT * FROM unnest($1::uuid[], $2::int8[], $3::uuid[], $4::text[], $5::text[], \
                 $6::text[], $7::text[], $8::int4[])",
            )
            .bind::<Array<SqlUuid>, _>(&columns.ids)
            .bind::<Array<BigInt>, _>(&columns.seqs)
            .bind::<Array<Nullable<SqlUuid>>, _>(&columns.parents)
            .bind::<Array<Text>, _>(&columns.kinds)
            .bind::<Array<Text>, _>(&columns.names)
            .bind::<Array<Text>, _>(&columns.codes)
            .bind::<Array<Text>, _>(&columns.paths)
            .bind::<Array<Integer>, _>(&columns.depths)
            .execute(conn)
            .await?;
            Ok(())
        })
        .await?;
    }
    let paths = paths
        .into_iter()
        .map(|path| path.context("an organization has no path"))
        .collect::<anyhow::Result<_>>()?;
    Ok((paths, !missing.is_empty()))
}

/// Column arrays of one multi-row organization INSERT.
#[derive(Default)]
struct OrganizationColumns {
    ids: Vec<Uuid>,
    seqs: Vec<i64>,
    parents: Vec<Option<Uuid>>,
    kinds: Vec<String>,
    names: Vec<String>,
    codes: Vec<String>,
    paths: Vec<String>,
    depths: Vec<i32>,
}

impl OrganizationColumns {
    fn push(&mut self, node: &PlannedOrganization, seq: i64, parent: Option<Uuid>, path: &str) {
        self.ids.push(node.id);
        self.seqs.push(seq);
        self.parents.push(parent);
        self.kinds.push(node.kind.to_owned());
        self.names.push(node.name.clone());
        self.codes.push(node.code.clone());
        self.paths.push(path.to_owned());
        self.depths.push(node.depth);
    }
}

/// The campaign `BENCH-<seed>`, created when missing; returns its id and field codes.
async fn ensure_campaign(
    conn: &mut AsyncPgConnection,
    planned_id: Uuid,
    seed: u64,
    owner: Uuid,
) -> anyhow::Result<(Uuid, Vec<String>)> {
    let code = format!("BENCH-{seed}");
    let fields = serde_json::Value::Array(
        FIELDS
            .iter()
            .map(|(code, name)| serde_json::json!({ "code": code, "name": name }))
            .collect(),
    );
    sql_query(
        "INSERT INTO campaigns (id, code, name, directive, owner_organization_id, starts_on, ends_on, \
         vision_year, description, fields) \
         VALUES ($1, $2, $3, 'Benchmark data set', $4, make_date($5, 1, 1), make_date($5 + $6 - 1, 12, 31), \
         2030, 'Generated by thidua generate', $7) ON CONFLICT (code) DO NOTHING",
    )
    .bind::<SqlUuid, _>(planned_id)
    .bind::<Text, _>(&code)
    .bind::<Text, _>(format!("Phong trào thi đua (benchmark {seed})"))
    .bind::<SqlUuid, _>(owner)
    .bind::<Integer, _>(FIRST_YEAR)
    .bind::<Integer, _>(YEARS)
    .bind::<diesel::sql_types::Jsonb, _>(&fields)
    .execute(conn)
    .await?;
    let id: IdRow = sql_query("SELECT id FROM campaigns WHERE code = $1")
        .bind::<Text, _>(&code)
        .get_result(conn)
        .await?;
    let stored: FieldsRow = sql_query("SELECT fields FROM campaigns WHERE id = $1")
        .bind::<SqlUuid, _>(id.id)
        .get_result(conn)
        .await?;
    let codes: Vec<String> = stored
        .fields
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    item.get("code")
                        .and_then(|code| code.as_str())
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    if codes.is_empty() {
        bail!("campaign {code} has no fields to pledge in");
    }
    Ok((id.id, codes))
}

/// A user with one membership; the password is set again on every run.
async fn ensure_user(
    conn: &mut AsyncPgConnection,
    planned_id: Uuid,
    username: &str,
    password_hash: &str,
    organization: Uuid,
    role: &str,
) -> anyhow::Result<Uuid> {
    let row: IdRow = sql_query(
        "INSERT INTO users (id, username, display_name, password_hash) VALUES ($1, $2, $2, $3) \
         ON CONFLICT ((lower(username))) DO UPDATE SET password_hash = EXCLUDED.password_hash, \
         disabled = false RETURNING id",
    )
    .bind::<SqlUuid, _>(planned_id)
    .bind::<Text, _>(username)
    .bind::<Text, _>(password_hash)
    .get_result(conn)
    .await?;
    sql_query(
        "INSERT INTO memberships (user_id, organization_id, role) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, organization_id) DO UPDATE SET role = EXCLUDED.role",
    )
    .bind::<SqlUuid, _>(row.id)
    .bind::<SqlUuid, _>(organization)
    .bind::<Text, _>(role)
    .execute(conn)
    .await?;
    Ok(row.id)
}

/// SQL of a uniform pseudo-random non-negative int8 below 2^31, the `k`-th of row `g`.
fn hash_sql(k: u64) -> String {
    // Distinct large primes decorrelate the draws of one row.
    const PRIMES: [u64; 12] = [
        1_000_003, 1_000_033, 1_000_037, 1_000_039, 1_000_081, 1_000_099, 1_000_117, 1_000_121,
        1_000_133, 1_000_151, 1_000_159, 1_000_171,
    ];
    let prime = PRIMES[usize::try_from(k).unwrap_or(0) % PRIMES.len()];
    format!("(hashint8((g * {prime}) # $1)::int8 & 2147483647)")
}

/// Quoted SQL array literal of `items` (constants of this module, no user input).
fn text_array(items: &[&str]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|item| format!("'{}'", item.replace('\'', "''")))
        .collect();
    format!("ARRAY[{}]::text[]", quoted.join(", "))
}

/// One of the three names of individual number `index` (an SQL integer expression): the
/// family, middle and given names are its digits in the mixed radix of the three lists, so
/// distinct indexes below the product of their lengths give distinct names.
fn name_part_sql(index: &str, part: usize) -> String {
    let lists = [FAMILY_NAMES, MIDDLE_NAMES, GIVEN_NAMES];
    let below: usize = lists[..part].iter().map(|list| list.len()).product();
    format!(
        "({})[1 + ((({index}) / {below}) % {})::int4]",
        text_array(lists[part]),
        lists[part].len()
    )
}

/// The full name of individual number `index` ([`name_part_sql`]).
fn full_name_sql(index: &str) -> String {
    (0..3)
        .map(|part| name_part_sql(index, part))
        .collect::<Vec<_>>()
        .join(" || ' ' || ")
}

/// One chunk of pledges `g ∈ [$2, $3]` with their progress reports, as one statement.
///
/// Parameters: $1 seed, $2 first g, $3 last g, $4 total pledges, $5 subtree LIKE pattern,
/// $6 campaign, $7 root organization, $8 creator, $9 approver, $10 field codes.
fn pledge_chunk_sql() -> String {
    let h = |k| hash_sql(k);
    format!(
        "WITH orgs AS MATERIALIZED ( \
           SELECT (row_number() OVER (ORDER BY id))::int8 AS i, id, path FROM organizations \
           WHERE path LIKE $5), \
         base AS ( \
           SELECT g, {FIRST_YEAR} + ({h10} % {YEARS})::int4 AS year, \
             1 + {h0} % (SELECT count(*) FROM orgs) AS org_i, {h1} % 100 AS h_status, {h2} AS h_kind, {h3} AS h_field, {h4} AS h_title, \
             {h5} AS h_value, {h6} AS h_deadline, {h7} % 100 AS h_result, {h8} AS h_time, \
             {h9} AS h_progress \
           FROM generate_series($2::int8, least($3::int8, $4::int8)) g), \
         shaped AS ( \
           SELECT b.*, o.id AS organization_id, o.path AS organization_path, \
             CASE WHEN b.h_kind % 4 = 0 THEN 'title' ELSE 'target' END AS kind, \
             CASE WHEN b.year < {last_year} THEN \
               CASE WHEN b.h_status < 62 THEN 'assessed' WHEN b.h_status < 76 THEN 'approved' \
                    WHEN b.h_status < 82 THEN 'submitted' WHEN b.h_status < 85 THEN 'returned' \
                    WHEN b.h_status < 94 THEN 'withdrawn' ELSE 'draft' END \
             ELSE \
               CASE WHEN b.h_status < 10 THEN 'assessed' WHEN b.h_status < 50 THEN 'approved' \
                    WHEN b.h_status < 70 THEN 'submitted' WHEN b.h_status < 75 THEN 'returned' \
                    WHEN b.h_status < 80 THEN 'withdrawn' ELSE 'draft' END \
             END AS status, \
             make_timestamptz(b.year, 1, 2, 0, 0, 0, 'UTC') + (b.h_time % (110 * 86400)) * interval '1 second' AS created_at \
           FROM base b JOIN orgs o ON o.i = b.org_i), \
         decided AS ( \
           SELECT s.*, \
             CASE WHEN s.status <> 'assessed' THEN NULL WHEN s.h_result < 15 THEN 'exceeded' \
                  WHEN s.h_result < 70 THEN 'achieved' WHEN s.h_result < 90 THEN 'partially_achieved' \
                  ELSE 'not_achieved' END AS result, \
             CASE WHEN s.kind = 'title' THEN ({titles})[1 + s.h_title % {title_count}] \
                  ELSE ({targets})[1 + s.h_title % {target_count}] END AS title, \
             CASE WHEN s.kind = 'target' AND s.h_value % 10 < 6 THEN round((s.h_value % 10000)::numeric / 10, 1)::float8 END AS target_value, \
             CASE WHEN s.kind = 'target' AND s.h_value % 10 < 6 THEN ({units})[1 + s.h_value % {unit_count}] END AS target_unit, \
             CASE WHEN s.status <> 'draft' THEN s.created_at + (1 + s.h_time % 20) * interval '1 day' END AS submitted_at \
           FROM shaped s), \
         timed AS ( \
           SELECT d.*, \
             CASE WHEN d.status IN ('approved', 'assessed') THEN d.submitted_at + (1 + d.h_deadline % 15) * interval '1 day' END AS approved_at, \
             CASE WHEN d.status = 'assessed' THEN make_timestamptz(d.year, 12, 1, 0, 0, 0, 'UTC') + (d.h_progress % (25 * 86400)) * interval '1 second' END AS assessed_at, \
             CASE WHEN d.status = 'assessed' THEN CASE d.result WHEN 'exceeded' THEN 100 WHEN 'achieved' THEN 100 \
                    WHEN 'partially_achieved' THEN 50 + d.h_progress % 40 ELSE d.h_progress % 50 END \
                  WHEN d.status = 'approved' THEN d.h_progress % 100 END::float8 AS progress_percent, \
             CASE WHEN d.status = 'assessed' THEN make_date(d.year, 11, 1) + (d.h_progress % 30)::int4 \
                  WHEN d.status = 'approved' THEN make_date(d.year, 6, 1) + (d.h_progress % 150)::int4 END AS last_reported_on \
           FROM decided d), \
         ins AS ( \
           INSERT INTO pledges (id, campaign_id, organization_id, organization_path, root_organization_id, \
             year, kind, field, title, description, target_value, target_unit, title_name, deadline, \
             status, result, assessment_note, status_reason, submitted_at, approved_at, approved_by, \
             assessed_at, progress_percent, current_value, last_reported_on, created_by, created_at, \
             updated_at, version) \
           SELECT md5('pledge:' || $1 || ':' || t.g)::uuid, $6, t.organization_id, t.organization_path, $7, \
             t.year, t.kind, $10[1 + (t.h_field % cardinality($10))::int4], t.title, \
             CASE WHEN t.h_kind % 10 < 3 THEN 'Nội dung đăng ký số ' || t.g END, \
             t.target_value, t.target_unit, CASE WHEN t.kind = 'title' THEN t.title END, \
             (make_date(t.year, 3 + (t.h_deadline % 10)::int4, 1) + interval '1 month - 1 day')::date, \
             t.status, t.result, \
             CASE WHEN t.status = 'assessed' AND t.h_result % 3 = 0 THEN 'Đánh giá cuối năm' END, \
             CASE t.status WHEN 'returned' THEN 'Cần bổ sung chỉ tiêu định lượng' \
                           WHEN 'withdrawn' THEN 'Đơn vị sắp xếp, sáp nhập' END, \
             t.submitted_at, t.approved_at, CASE WHEN t.approved_at IS NOT NULL THEN $9::uuid END, \
             t.assessed_at, t.progress_percent, \
             CASE WHEN t.progress_percent IS NOT NULL AND t.target_value IS NOT NULL \
                  THEN round((t.target_value * t.progress_percent / 100)::numeric, 1)::float8 END, \
             t.last_reported_on, $8, t.created_at, \
             greatest(t.created_at, t.submitted_at, t.approved_at, t.assessed_at, t.last_reported_on::timestamptz) \
               + interval '1 hour', \
             CASE t.status WHEN 'draft' THEN 1 WHEN 'submitted' THEN 2 WHEN 'returned' THEN 3 \
               WHEN 'withdrawn' THEN 2 WHEN 'approved' THEN 3 ELSE 4 END \
               + CASE WHEN t.last_reported_on IS NOT NULL THEN 1 ELSE 0 END \
           FROM timed t \
           ON CONFLICT (id) DO NOTHING \
           RETURNING id, root_organization_id, progress_percent, current_value, last_reported_on, created_by) \
         INSERT INTO pledge_progress (id, pledge_id, root_organization_id, reported_on, percent, value, note, \
           reported_by, reporter_kind, created_at) \
         SELECT md5('progress:' || $1 || ':' || ins.id)::uuid, ins.id, ins.root_organization_id, \
           ins.last_reported_on, ins.progress_percent, ins.current_value, 'Báo cáo tiến độ', ins.created_by, \
           'user', ins.last_reported_on::timestamptz + interval '9 hours' \
         FROM ins WHERE ins.last_reported_on IS NOT NULL",
        h0 = h(0),
        h1 = h(1),
        h2 = h(2),
        h3 = h(3),
        h4 = h(4),
        h5 = h(5),
        h6 = h(6),
        h7 = h(7),
        h8 = h(8),
        h9 = h(9),
        h10 = h(10),
        last_year = FIRST_YEAR + YEARS - 1,
        titles = text_array(TITLES),
        title_count = TITLES.len(),
        targets = text_array(TARGETS),
        target_count = TARGETS.len(),
        units = text_array(UNITS),
        unit_count = UNITS.len(),
    )
}

/// One chunk of nominations `g ∈ [$2, $3]` with one review each once reviewed.
///
/// Nomination g goes to organization `(g-1) mod n`, year `(g-1) div n mod 5`, and takes slot
/// `(g-1) div 5n` there: distinct slots give distinct nominee names (the name list is shifted by
/// a per-organization offset, the same for all its slots), so the uniqueness indexes hold. Parameters as in [`pledge_chunk_sql`] ($4 unused but bound for symmetry: total).
fn nomination_chunk_sql() -> String {
    let h = |k| hash_sql(k);
    format!(
        "WITH orgs AS MATERIALIZED ( \
           SELECT (row_number() OVER (ORDER BY id))::int8 - 1 AS i, id, path FROM organizations \
           WHERE path LIKE $5), \
         n AS (SELECT count(*)::int8 AS n FROM orgs WHERE $4 > 0), \
         base AS ( \
           SELECT g, (g - 1) % n.n AS org_index, \
             {FIRST_YEAR} + (((g - 1) / n.n) % {YEARS})::int4 AS year, (g - 1) / (n.n * {YEARS}) AS slot, \
             ((g - 1) / (n.n * {YEARS}) + (hashint8(((g - 1) % n.n) # $1)::int8 & 2147483647)) \
               % {name_count} AS name_index, \
             {h1} % 100 AS h_status, {h2} % 3 AS h_type, {h3} AS h_field, {h4} AS h_misc, {h8} AS h_time \
           FROM generate_series($2::int8, $3::int8) g, n), \
         shaped AS ( \
           SELECT b.*, o.id AS organization_id, o.path AS organization_path, \
             CASE WHEN b.h_type = 0 THEN 'collective' ELSE 'individual' END AS nominee_type, \
             CASE WHEN b.h_status < 8 THEN 'draft' WHEN b.h_status < 18 THEN 'submitted' \
                  WHEN b.h_status < 32 THEN 'under_review' WHEN b.h_status < 62 THEN 'recognized' \
                  WHEN b.h_status < 87 THEN 'commended' WHEN b.h_status < 95 THEN 'rejected' \
                  ELSE 'withdrawn' END AS status, \
             make_timestamptz(b.year, 2, 1, 0, 0, 0, 'UTC') + (b.h_time % (120 * 86400)) * interval '1 second' AS created_at \
           FROM base b JOIN orgs o ON o.i = b.org_index), \
         ins AS ( \
           INSERT INTO nominations (id, campaign_id, nominating_organization_id, organization_path, \
             root_organization_id, year, nominee_type, nominee_name, nominee_position, member_count, \
             field, achievements, status, status_reason, commendation_form, issuer_organization_id, \
             decision_no, decided_on, submitted_at, review_started_at, recognized_at, commended_at, \
             created_by, created_at, updated_at, version) \
           SELECT md5('nomination:' || $1 || ':' || s.g)::uuid, $6, s.organization_id, s.organization_path, \
             $7, s.year, s.nominee_type, \
             CASE WHEN s.nominee_type = 'collective' \
               THEN ({groups})[1 + (s.name_index % {group_count})::int4] || ' số ' || (s.slot + 1) \
               ELSE {nominee_name} END, \
             CASE WHEN s.nominee_type = 'individual' THEN ({positions})[1 + (s.h_misc % {position_count})::int4] END, \
             CASE WHEN s.nominee_type = 'collective' THEN (5 + s.h_misc % 50)::int4 END, \
             $10[1 + (s.h_field % cardinality($10))::int4], \
             'Thành tích tiêu biểu năm ' || s.year, s.status, \
             CASE s.status WHEN 'rejected' THEN 'Chưa đủ tiêu chuẩn' WHEN 'withdrawn' THEN 'Đơn vị rút hồ sơ' END, \
             CASE WHEN s.status = 'commended' THEN (ARRAY['giay_khen', 'bang_khen', 'co_thi_dua'])[1 + (s.h_misc % 3)::int4] END, \
             CASE WHEN s.status = 'commended' THEN $7::uuid END, \
             CASE WHEN s.status = 'commended' THEN s.g || '/QĐ-UBND' END, \
             CASE WHEN s.status = 'commended' THEN make_date(s.year, 12, 20) END, \
             CASE WHEN s.status <> 'draft' THEN s.created_at + interval '3 days' END, \
             CASE WHEN s.status IN ('under_review', 'recognized', 'commended', 'rejected') THEN s.created_at + interval '10 days' END, \
             CASE WHEN s.status IN ('recognized', 'commended') THEN s.created_at + interval '40 days' END, \
             CASE WHEN s.status = 'commended' THEN make_timestamptz(s.year, 12, 20, 0, 0, 0, 'UTC') END, \
             $8, s.created_at, \
             CASE WHEN s.status = 'commended' THEN make_timestamptz(s.year, 12, 20, 1, 0, 0, 'UTC') \
                  ELSE s.created_at + interval '41 days' END, \
             CASE s.status WHEN 'draft' THEN 1 WHEN 'submitted' THEN 2 WHEN 'under_review' THEN 3 \
               WHEN 'recognized' THEN 4 WHEN 'commended' THEN 5 ELSE 3 END \
           FROM shaped s \
           ON CONFLICT (id) DO NOTHING \
           RETURNING id, status, review_started_at) \
         INSERT INTO nomination_reviews (id, nomination_id, reviewer_id, decision, comment, created_at) \
         SELECT md5('review:' || $1 || ':' || ins.id)::uuid, ins.id, $9, \
           CASE WHEN ins.status = 'rejected' THEN 'oppose' ELSE 'endorse' END, 'Ý kiến hội đồng', \
           ins.review_started_at + interval '5 days' \
         FROM ins WHERE ins.review_started_at IS NOT NULL",
        h1 = h(1),
        h2 = h(2),
        h3 = h(3),
        h4 = h(4),
        h8 = h(8),
        groups = text_array(GROUPS),
        group_count = GROUPS.len(),
        nominee_name = full_name_sql("s.name_index"),
        name_count = FAMILY_NAMES.len() * MIDDLE_NAMES.len() * GIVEN_NAMES.len(),
        positions = text_array(POSITIONS),
        position_count = POSITIONS.len(),
    )
}

/// Title codes every generated person registers for the last year, with the share (in %) of
/// persons registering each: everyone lao động tiên tiến, those rated xuất sắc chiến sĩ thi đua
/// cơ sở, a third of them chiến sĩ thi đua tỉnh (who hold both lower titles of the two years
/// before).
const PERSON_REGISTRATIONS: &[(&str, u32)] = &[
    ("lao_dong_tien_tien", 100),
    ("chien_si_thi_dua_co_so", 15),
    ("chien_si_thi_dua_tinh", 5),
];

/// One chunk of persons `g ∈ [$2, $3]` with their record of the last year (60 % rated
/// hoàn thành tốt, 15 % xuất sắc, 20 % hoàn thành, 5 % không hoàn thành), their title
/// registrations of that year ([`PERSON_REGISTRATIONS`]) and, for the 5 % who register chiến sĩ
/// thi đua tỉnh, the awards of the two years before. Each person stands in a unit below the
/// root. Parameters as in [`pledge_chunk_sql`] ($7 the root, $8 the creator; the others unused).
fn person_chunk_sql() -> String {
    let h = |k| hash_sql(k);
    let last_year = FIRST_YEAR + YEARS - 1;
    let registrations: Vec<String> = PERSON_REGISTRATIONS
        .iter()
        .map(|(code, share)| format!("('{code}', {share})"))
        .collect();
    format!(
        "WITH orgs AS MATERIALIZED ( \
           SELECT (row_number() OVER (ORDER BY id))::int8 AS i, id, path FROM organizations \
           WHERE path LIKE $5 AND id <> $7), \
         base AS ( \
           SELECT g, 1 + {h0} % (SELECT count(*) FROM orgs) AS org_i, {h1} % 100 AS r, \
             {h2} AS h_name, {h3} AS h_misc \
           FROM generate_series($2::int8, least($3::int8, $4::int8)) g), \
         people AS ( \
           SELECT b.*, md5('person:' || $1 || ':' || b.g)::uuid AS id, o.id AS organization_id, \
             o.path AS organization_path, \
             {middle} AS middle, {full_name} AS full_name, \
             CASE WHEN b.r < 15 THEN 'hoan_thanh_xuat_sac' WHEN b.r < 75 THEN 'hoan_thanh_tot' \
                  WHEN b.r < 95 THEN 'hoan_thanh' ELSE 'khong_hoan_thanh' END AS rating \
           FROM base b JOIN orgs o ON o.i = b.org_i), \
         ins AS ( \
           INSERT INTO persons (id, organization_id, organization_path, full_name, position, gender, \
             created_by, created_at, updated_at) \
           SELECT p.id, p.organization_id, p.organization_path, \
             p.full_name, \
             ({positions})[1 + (p.h_misc % {position_count})::int4], \
             CASE WHEN p.middle = 'Thị' THEN 'female' WHEN p.middle = 'Văn' THEN 'male' \
                  WHEN p.h_misc % 2 = 0 THEN 'female' ELSE 'male' END, \
             $8, make_timestamptz({last_year}, 1, 5, 0, 0, 0, 'UTC'), make_timestamptz({last_year}, 1, 5, 0, 0, 0, 'UTC') \
           FROM people p \
           ON CONFLICT (id) DO NOTHING \
           RETURNING id), \
         fresh AS (SELECT p.* FROM people p JOIN ins USING (id)), \
         records AS ( \
           INSERT INTO year_records (person_id, year, completion_rating, initiative, updated_by, updated_at) \
           SELECT f.id, {last_year}, f.rating, \
             CASE WHEN f.r < 5 THEN 'Sáng kiến số ' || f.g END, $8, make_timestamptz({last_year}, 12, 10, 0, 0, 0, 'UTC') \
           FROM fresh f \
           ON CONFLICT DO NOTHING), \
         registered AS ( \
           INSERT INTO title_registrations (id, person_id, title_code, year, organization_path, \
             created_by, created_at) \
           SELECT md5('registration:' || $1 || ':' || f.g || ':' || t.code)::uuid, f.id, t.code, \
             {last_year}, f.organization_path, $8, make_timestamptz({last_year}, 1, 15, 0, 0, 0, 'UTC') \
           FROM fresh f CROSS JOIN (VALUES {registrations}) AS t (code, share) \
           WHERE f.r < t.share \
           ON CONFLICT DO NOTHING) \
         INSERT INTO awards (id, person_id, title_code, year, issuer_organization_id, decision_no, \
           decided_on, organization_path, created_by, created_at) \
         SELECT md5('award:' || $1 || ':' || f.g || ':' || t.code || ':' || y)::uuid, f.id, t.code, \
           y::int4, f.organization_id, (f.g % 1000 + 1) || '/QĐ-UBND', make_date(y::int4, 12, 20), \
           f.organization_path, $8, make_timestamptz(y::int4, 12, 21, 0, 0, 0, 'UTC') \
         FROM fresh f \
           CROSS JOIN (VALUES ('lao_dong_tien_tien'), ('chien_si_thi_dua_co_so')) AS t (code) \
           CROSS JOIN generate_series({first_award}, {last_award}) AS y \
         WHERE f.r < 5 \
         ON CONFLICT DO NOTHING",
        h0 = h(0),
        h1 = h(1),
        h2 = h(2),
        h3 = h(3),
        registrations = registrations.join(", "),
        first_award = last_year - 2,
        last_award = last_year - 1,
        middle = name_part_sql("b.h_name", 1),
        full_name = full_name_sql("b.h_name"),
        positions = text_array(POSITIONS),
        position_count = POSITIONS.len(),
    )
}

/// What a chunked generation writes into.
struct ChunkTarget<'a> {
    label: &'a str,
    table: &'a str,
    id_prefix: &'a str,
    sql: String,
}

/// The ids, paths and people every chunk refers to.
struct ChunkContext<'a> {
    seed: i64,
    subtree_like: String,
    campaign: Uuid,
    root: Uuid,
    creator: Uuid,
    /// Approver of pledges, reviewer of nominations.
    decider: Uuid,
    fields: &'a [String],
}

/// Runs `target` over `g ∈ [1, total]` in chunks, skipping chunks already present, the chunks
/// shared out between the connections of `lanes` (chunk k on lane k mod lanes): each lane runs
/// its chunks one after another, the lanes side by side. Returns whether it ran any chunk.
async fn run_chunks(
    lanes: Vec<&mut AsyncPgConnection>,
    target: &ChunkTarget<'_>,
    total: u64,
    context: &ChunkContext<'_>,
) -> anyhow::Result<bool> {
    let started = Instant::now();
    let chunks: Vec<(u64, u64)> = (0..)
        .map(|k| (1 + k * CHUNK, ((k + 1) * CHUNK).min(total)))
        .take_while(|&(from, _)| from <= total)
        .collect();
    let done = std::sync::atomic::AtomicU64::new(0);
    let lane_count = lanes.len().max(1);
    let skipped: Vec<u64> =
        futures_util::future::try_join_all(lanes.into_iter().enumerate().map(|(lane, conn)| {
            let mine: Vec<(u64, u64)> = chunks
                .iter()
                .copied()
                .skip(lane)
                .step_by(lane_count)
                .collect();
            let done = &done;
            async move {
                let mut skipped = 0;
                for (from, to) in mine {
                    let chunk_started = Instant::now();
                    if !run_chunk(conn, target, (from, to), total, context).await? {
                        skipped += to - from + 1;
                        continue;
                    }
                    let rows = to - from + 1;
                    let so_far = done.fetch_add(rows, std::sync::atomic::Ordering::Relaxed) + rows;
                    let rate = rows as f64 / chunk_started.elapsed().as_secs_f64().max(1e-6);
                    println!(
                        "{}: {so_far}/{total} ({:.1} s; lane {lane}: {from}..{to}, {rate:.0} rows/s)",
                        target.label,
                        started.elapsed().as_secs_f64()
                    );
                }
                anyhow::Ok(skipped)
            }
        }))
        .await?;
    let skipped: u64 = skipped.into_iter().sum();
    if skipped > 0 {
        println!("{}: {skipped} already present, skipped", target.label);
    }
    println!(
        "{}: done in {:.1} s ({lane_count} connections)",
        target.label,
        started.elapsed().as_secs_f64()
    );
    Ok(skipped < total)
}

/// Inserts the rows `g ∈ [from, to]` of `target` unless the chunk's last row exists (a chunk
/// commits whole); returns whether it ran.
async fn run_chunk(
    conn: &mut AsyncPgConnection,
    target: &ChunkTarget<'_>,
    (from, to): (u64, u64),
    total: u64,
    context: &ChunkContext<'_>,
) -> anyhow::Result<bool> {
    let present: Flag = sql_query(format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE id = md5($1 || $2 || ':' || $3)::uuid) AS flag",
        target.table
    ))
    .bind::<Text, _>(target.id_prefix)
    .bind::<BigInt, _>(context.seed)
    .bind::<BigInt, _>(i64::try_from(to)?)
    .get_result(conn)
    .await?;
    if present.flag {
        return Ok(false);
    }
    sql_query(&target.sql)
        .bind::<BigInt, _>(context.seed)
        .bind::<BigInt, _>(i64::try_from(from)?)
        .bind::<BigInt, _>(i64::try_from(to)?)
        .bind::<BigInt, _>(i64::try_from(total)?)
        .bind::<Text, _>(&context.subtree_like)
        .bind::<SqlUuid, _>(context.campaign)
        .bind::<SqlUuid, _>(context.root)
        .bind::<SqlUuid, _>(context.creator)
        .bind::<SqlUuid, _>(context.decider)
        .bind::<Array<Text>, _>(context.fields)
        .execute(conn)
        .await
        .with_context(|| format!("generating {} {from}..{to}", target.label))?;
    Ok(true)
}

/// The tables `thidua generate` loads in chunks.
const LOADED_TABLES: [&str; 8] = [
    "pledges",
    "pledge_progress",
    "nominations",
    "nomination_reviews",
    "persons",
    "year_records",
    "title_registrations",
    "awards",
];

/// An index dropped for a load, to build after it.
#[derive(QueryableByName)]
struct DeferredIndex {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    definition: String,
}

/// Drops the secondary indexes (neither unique nor behind a constraint) of every loaded table
/// that is still empty, keeping their definitions in `generate_deferred_indexes` until
/// [`build_deferred_indexes`] builds them again: maintaining 15 indexes row by row held pledges
/// to about 3 500 rows a second at 1M, while building an index over loaded rows is one sort.
/// The unique ones stay, so every row is still checked, and a rerun after an interruption
/// finds the definitions kept and builds them. Returns how many were dropped.
async fn defer_indexes(conn: &mut AsyncPgConnection) -> anyhow::Result<usize> {
    conn.transaction::<_, anyhow::Error, _>(async |conn| {
        conn.batch_execute(
            "CREATE TABLE IF NOT EXISTS generate_deferred_indexes \
               (name text PRIMARY KEY, definition text NOT NULL)",
        )
        .await?;
        let mut deferred: Vec<DeferredIndex> = Vec::new();
        for table in LOADED_TABLES {
            let empty: Flag = sql_query(format!(
                "SELECT NOT EXISTS (SELECT 1 FROM {table}) AS flag"
            ))
            .get_result(conn)
            .await?;
            if !empty.flag {
                continue;
            }
            deferred.extend(
                sql_query(
                    "INSERT INTO generate_deferred_indexes (name, definition) \
                     SELECT quote_ident(c.relname), pg_get_indexdef(i.indexrelid) \
                     FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid \
                     WHERE i.indrelid = $1::regclass AND NOT i.indisunique \
                       AND NOT EXISTS (SELECT 1 FROM pg_constraint AS k WHERE k.conindid = i.indexrelid) \
                     RETURNING name, definition",
                )
                .bind::<Text, _>(table)
                .load::<DeferredIndex>(conn)
                .await?,
            );
        }
        if !deferred.is_empty() {
            let names: Vec<&str> = deferred.iter().map(|index| index.name.as_str()).collect();
            conn.batch_execute(&format!("DROP INDEX {}", names.join(", ")))
                .await?;
        }
        Ok(deferred.len())
    })
    .await
}

/// Builds every index [`defer_indexes`] dropped (this run or an interrupted one) on `conn` and
/// the connections `more` side by side, each built and struck off the list in one transaction.
async fn build_deferred_indexes(
    conn: &mut AsyncPgConnection,
    more: &mut [AsyncPgConnection],
) -> anyhow::Result<()> {
    if !table_exists(conn, "generate_deferred_indexes").await? {
        return Ok(());
    }
    let deferred: Vec<DeferredIndex> =
        sql_query("SELECT name, definition FROM generate_deferred_indexes ORDER BY name")
            .load(conn)
            .await?;
    let started = Instant::now();
    let count = deferred.len();
    let queue = std::sync::Mutex::new(deferred.into_iter());
    let lanes = std::iter::once(&mut *conn).chain(more.iter_mut());
    futures_util::future::try_join_all(lanes.map(|lane| {
        let queue = &queue;
        async move {
            lane.batch_execute("SET maintenance_work_mem = '512MB'")
                .await?;
            loop {
                let next = queue.lock().map_or(None, |mut indexes| indexes.next());
                let Some(index) = next else {
                    break;
                };
                let index_started = Instant::now();
                lane.transaction::<_, anyhow::Error, _>(async |lane| {
                    lane.batch_execute(&index.definition).await?;
                    sql_query("DELETE FROM generate_deferred_indexes WHERE name = $1")
                        .bind::<Text, _>(&index.name)
                        .execute(lane)
                        .await?;
                    Ok(())
                })
                .await
                .with_context(|| format!("building {}", index.name))?;
                println!(
                    "indexes: {} built in {:.1} s",
                    index.name,
                    index_started.elapsed().as_secs_f64()
                );
            }
            anyhow::Ok(())
        }
    }))
    .await?;
    conn.batch_execute("DROP TABLE generate_deferred_indexes")
        .await?;
    println!(
        "indexes: {count} built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A connection of its own, outside the pool (chunks run far longer than the service's
/// statement timeout), set up for loading; answers it and whether its rows skip the triggers.
async fn loading_connection(url: &str) -> anyhow::Result<(AsyncPgConnection, bool)> {
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .context("connecting to the database")?;
    // Benchmark data can be regenerated: no need to wait for each commit's WAL flush. An
    // interrupted run must not leave its chunk running (and committing) behind it.
    conn.batch_execute("SET synchronous_commit = off; SET client_connection_check_interval = '1s'")
        .await?;
    // The tallies are rebuilt in bulk at the end (r.rebuild_tallies): the row triggers, which
    // queue a delta per row for the fold, would only cost time here. A session in the replica
    // role fires no ordinary trigger (foreign keys included: the rows are built to satisfy
    // them). Only a superuser may ask; anyone else keeps the triggers, and the rebuild
    // discards what they queued.
    let triggers_off = conn
        .batch_execute("SET session_replication_role = replica")
        .await
        .is_ok();
    Ok((conn, triggers_off))
}

async fn table_exists(conn: &mut AsyncPgConnection, table: &str) -> anyhow::Result<bool> {
    let row: Flag = sql_query("SELECT to_regclass($1) IS NOT NULL AS flag")
        .bind::<Text, _>(table)
        .get_result(conn)
        .await?;
    Ok(row.flag)
}

async fn count(
    conn: &mut AsyncPgConnection,
    statement: &str,
    campaign: Uuid,
) -> anyhow::Result<i64> {
    let row: Count = sql_query(statement)
        .bind::<SqlUuid, _>(campaign)
        .get_result(conn)
        .await?;
    Ok(row.count)
}

/// Fills the database of `settings` (created and migrated first) with the data set of `sizes`,
/// its tree taken from `merges` (merges.json of data/vn-admin-2025).
/// The chunks of rows run on `jobs` connections side by side.
pub async fn run(
    settings: &Settings,
    sizes: Sizes,
    merges: &Path,
    jobs: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let text =
        std::fs::read_to_string(merges).with_context(|| format!("reading {}", merges.display()))?;
    let units = crate::restructurings::import::parse(&text)
        .with_context(|| format!("reading {}", merges.display()))?;
    crate::db::create_database_if_missing(&settings.database_url).await?;
    crate::db::run_migrations(&settings.database_url).await?;
    let (mut conn, triggers_off) = loading_connection(&settings.database_url).await?;
    if !triggers_off {
        println!("triggers: not a superuser, rows are loaded with their triggers (slower)");
    }
    let mut rng = StdRng::seed_from_u64(sizes.seed);
    let plan = plan_organizations(&mut rng, &units, &sizes)?;
    let campaign_id = random_uuid(&mut rng);
    let admin_id = random_uuid(&mut rng);
    let manager_id = random_uuid(&mut rng);
    let first_province = plan
        .iter()
        .position(|node| node.depth == 1)
        .context("the plan has no province")?;
    println!(
        "tree: {} provinces, {} communes and wards, {} hamlets and party cells (2025 structure)",
        plan.iter().filter(|node| node.depth == 1).count(),
        plan.iter().filter(|node| node.depth == 2).count(),
        plan.iter().filter(|node| node.depth == 3).count()
    );

    let organizations_started = Instant::now();
    let (paths, units_added) = insert_organizations(&mut conn, &plan).await?;
    println!(
        "organizations: done in {:.1} s",
        organizations_started.elapsed().as_secs_f64()
    );
    let root = plan[0].id;
    let (campaign, fields) = ensure_campaign(&mut conn, campaign_id, sizes.seed, root).await?;
    let admin_hash = crate::auth::password::hash_with(&settings.password_hashing, ADMIN_PASSWORD)?;
    let manager_hash =
        crate::auth::password::hash_with(&settings.password_hashing, MANAGER_PASSWORD)?;
    let admin = ensure_user(
        &mut conn,
        admin_id,
        ADMIN_USERNAME,
        &admin_hash,
        root,
        "admin",
    )
    .await?;
    let manager = ensure_user(
        &mut conn,
        manager_id,
        MANAGER_USERNAME,
        &manager_hash,
        plan[first_province].id,
        "manager",
    )
    .await?;
    println!(
        "campaign BENCH-{} ({campaign}); users {ADMIN_USERNAME} (admin at the root), \
         {MANAGER_USERNAME} (manager of {})",
        sizes.seed, plan[first_province].name
    );

    let context = ChunkContext {
        seed: i64::try_from(sizes.seed)?,
        subtree_like: format!("{}%", crate::text::like_escape(&paths[0])),
        campaign,
        root,
        creator: admin,
        decider: manager,
        fields: &fields,
    };
    let pledges = ChunkTarget {
        label: "pledges",
        table: "pledges",
        id_prefix: "pledge:",
        sql: pledge_chunk_sql(),
    };
    let deferred = defer_indexes(&mut conn).await?;
    if deferred > 0 {
        println!("indexes: {deferred} dropped for the load, built again after it");
    }
    // More connections for the chunks: a chunk is one backend's work.
    let mut more = Vec::new();
    for _ in 1..jobs.max(1) {
        more.push(loading_connection(&settings.database_url).await?.0);
    }
    let lanes = std::iter::once(&mut conn).chain(more.iter_mut()).collect();
    let mut loaded = units_added | run_chunks(lanes, &pledges, sizes.pledges, &context).await?;

    if sizes.nominations > 0 {
        if table_exists(&mut conn, "nominations").await?
            && table_exists(&mut conn, "nomination_reviews").await?
        {
            let capacity = plan.len() as u64
                * YEARS as u64
                * (FAMILY_NAMES.len() * MIDDLE_NAMES.len() * GIVEN_NAMES.len()) as u64;
            if sizes.nominations > capacity {
                bail!(
                    "--nominations {} exceeds the {capacity} distinct nominees this tree can hold",
                    sizes.nominations
                );
            }
            let nominations = ChunkTarget {
                label: "nominations",
                table: "nominations",
                id_prefix: "nomination:",
                sql: nomination_chunk_sql(),
            };
            let reviewer = ChunkContext {
                decider: admin,
                subtree_like: context.subtree_like.clone(),
                ..context
            };
            let lanes = std::iter::once(&mut conn).chain(more.iter_mut()).collect();
            loaded |= run_chunks(lanes, &nominations, sizes.nominations, &reviewer).await?;
        } else {
            println!("nominations: the nominations table does not exist here, skipped");
        }
    }
    let mut persons_loaded = false;
    if sizes.persons > 0 {
        let persons = ChunkTarget {
            label: "persons",
            table: "persons",
            id_prefix: "person:",
            sql: person_chunk_sql(),
        };
        let lanes = std::iter::once(&mut conn).chain(more.iter_mut()).collect();
        // Persons are not tallied, their awards are: only the award tallies are recounted.
        persons_loaded = run_chunks(lanes, &persons, sizes.persons, &context).await?;
    }
    // A rerun that found every row in place leaves the tallies alone (they were rebuilt when
    // the rows were loaded), unless the tallies are empty.
    let untallied: Flag = sql_query("SELECT NOT EXISTS (SELECT 1 FROM tallies) AS flag")
        .get_result(&mut conn)
        .await?;
    let rebuild = loaded || untallied.flag;
    // The indexes and the two halves of the tally rebuild all read the loaded rows and write
    // apart: side by side they keep every core busy (one after the other, each half's
    // aggregates ran on a single backend).
    let rebuilt = async {
        if !rebuild {
            return anyhow::Ok(());
        }
        let started = Instant::now();
        let horizon = crate::stats::tallies::rebuild_start(&mut conn).await?;
        let mut halves = Vec::new();
        for part in TallyPart::ALL {
            halves.push((part, loading_connection(&settings.database_url).await?.0));
        }
        let written =
            futures_util::future::try_join_all(halves.iter_mut().map(|(part, half)| async move {
                let part_started = Instant::now();
                let written = crate::stats::tallies::rebuild_part(half, *part, horizon).await?;
                println!(
                    "tallies: {} part, {written} rows rebuilt in {:.1} s",
                    part.as_str(),
                    part_started.elapsed().as_secs_f64()
                );
                anyhow::Ok(written)
            }))
            .await?;
        println!(
            "tallies: {} rows rebuilt in {:.1} s",
            written.iter().sum::<i64>(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    };
    // The index builds take the other loading connections (at least one).
    if more.is_empty() {
        more.push(loading_connection(&settings.database_url).await?.0);
    }
    let (index_lane, more_lanes) = more.split_first_mut().context("an index lane")?;
    futures_util::future::try_join(rebuilt, build_deferred_indexes(index_lane, more_lanes)).await?;
    let untallied_awards: Flag = sql_query(
        "SELECT EXISTS (SELECT 1 FROM awards) AND NOT EXISTS (SELECT 1 FROM award_tallies) AS flag",
    )
    .get_result(&mut conn)
    .await?;
    if persons_loaded || untallied_awards.flag {
        let started = Instant::now();
        let written = crate::stats::tallies::rebuild_awards(&mut conn).await?;
        println!(
            "award tallies: {written} rows rebuilt in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    if triggers_off {
        conn.batch_execute("RESET session_replication_role").await?;
    }

    let analyze_started = Instant::now();
    // Every table the generation wrote (the migrations ran first: they all exist).
    let tables = [
        "organizations",
        "users",
        "memberships",
        "campaigns",
        "pledges",
        "pledge_progress",
        "persons",
        "year_records",
        "title_registrations",
        "awards",
        "award_tallies",
        "nominations",
        "nomination_reviews",
        "tallies",
        "deadline_tallies",
        "tally_deltas",
        "facet_tallies",
        "facet_deadline_tallies",
        "unit_tallies",
        "subtree_sums",
    ];
    // Fresh statistics for the planner, and a visibility map so index-only scans work at once.
    conn.batch_execute(&format!("VACUUM ANALYZE {}", tables.join(", ")))
        .await?;
    println!(
        "vacuum analyze: {:.1} s",
        analyze_started.elapsed().as_secs_f64()
    );

    let pledge_count = count(
        &mut conn,
        "SELECT count(*) AS count FROM pledges WHERE campaign_id = $1",
        campaign,
    )
    .await?;
    let progress_count = count(
        &mut conn,
        "SELECT count(*) AS count FROM pledge_progress pp JOIN pledges p ON p.id = pp.pledge_id WHERE p.campaign_id = $1",
        campaign,
    )
    .await?;
    println!(
        "data set: {} organizations, {pledge_count} pledges, {progress_count} progress reports in campaign BENCH-{}",
        plan.len(),
        sizes.seed
    );
    if table_exists(&mut conn, "nominations").await? {
        let nomination_count = count(
            &mut conn,
            "SELECT count(*) AS count FROM nominations WHERE campaign_id = $1",
            campaign,
        )
        .await?;
        println!("data set: {nomination_count} nominations");
    }
    println!("generate: done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units() -> MergesFile {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/vn-admin-2025/merges.json"
        ))
        .unwrap();
        crate::restructurings::import::parse(&text).unwrap()
    }

    fn sizes(organizations: u32, provinces: Option<u32>, seed: u64) -> Sizes {
        Sizes {
            organizations,
            provinces,
            pledges: 0,
            nominations: 0,
            persons: 0,
            seed,
        }
    }

    fn count(plan: &[PlannedOrganization], depth: i32) -> usize {
        plan.iter().filter(|node| node.depth == depth).count()
    }

    #[test]
    fn ten_thousand_organizations_hold_the_34_provinces_and_3321_communes() {
        let plan = plan_organizations(
            &mut StdRng::seed_from_u64(1),
            &units(),
            &sizes(10_000, None, 1),
        )
        .unwrap();
        assert_eq!(plan.len(), 10_000);
        assert_eq!(count(&plan, 1), 34);
        assert_eq!(count(&plan, 2), 3_321);
        assert_eq!(count(&plan, 3), 10_000 - 1 - 34 - 3_321);
        let wards = plan.iter().filter(|node| node.kind == "ward").count();
        assert_eq!(wards, 687);
        assert!(plan.iter().any(|node| node.name == "Xã Mỹ Chánh Hòa"));
        assert!(plan.iter().any(|node| node.code == "BENCH-1-86"));
    }

    #[test]
    fn small_runs_take_the_first_provinces_that_fit_or_part_of_one() {
        let units = units();
        // Hà Nội (126 communes) and Cao Bằng (56): 1 + 2 + 2 × 182 = 367.
        let plan = plan_organizations(&mut StdRng::seed_from_u64(1), &units, &sizes(400, None, 1))
            .unwrap();
        assert_eq!(
            (plan.len(), count(&plan, 1), count(&plan, 2)),
            (400, 2, 182)
        );
        let plan =
            plan_organizations(&mut StdRng::seed_from_u64(1), &units, &sizes(50, None, 1)).unwrap();
        assert_eq!((plan.len(), count(&plan, 1), count(&plan, 2)), (50, 1, 24));
        let plan = plan_organizations(
            &mut StdRng::seed_from_u64(1),
            &units,
            &sizes(1_000, Some(1), 1),
        )
        .unwrap();
        assert_eq!((count(&plan, 1), count(&plan, 2)), (1, 126));
        assert!(shape(&units, 300, Some(2)).is_err(), "2 provinces need 367");
        assert!(shape(&units, 3, None).is_err());
        assert!(shape(&units, 10_000, Some(35)).is_err());
    }

    #[test]
    fn the_same_seed_plans_the_same_tree_and_another_seed_does_not() {
        let units = units();
        let first = plan_organizations(&mut StdRng::seed_from_u64(7), &units, &sizes(500, None, 7))
            .unwrap();
        let again = plan_organizations(&mut StdRng::seed_from_u64(7), &units, &sizes(500, None, 7))
            .unwrap();
        let other = plan_organizations(&mut StdRng::seed_from_u64(8), &units, &sizes(500, None, 8))
            .unwrap();
        let ids =
            |plan: &[PlannedOrganization]| plan.iter().map(|node| node.id).collect::<Vec<_>>();
        assert_eq!(ids(&first), ids(&again));
        assert_ne!(ids(&first), ids(&other));
    }

    #[test]
    fn every_planned_parent_comes_first_and_codes_and_sibling_names_are_unique() {
        let plan = plan_organizations(
            &mut StdRng::seed_from_u64(1),
            &units(),
            &sizes(8_000, None, 1),
        )
        .unwrap();
        let mut siblings = std::collections::HashSet::new();
        for (position, node) in plan.iter().enumerate() {
            if let Some(parent) = node.parent {
                assert!(parent < position);
                assert_eq!(plan[parent].depth + 1, node.depth);
            }
            assert!(
                siblings.insert((node.parent, crate::text::comparison_key(&node.name))),
                "{} repeats under its parent",
                node.name
            );
        }
        let codes: std::collections::HashSet<_> = plan.iter().map(|node| &node.code).collect();
        assert_eq!(codes.len(), plan.len(), "codes are unique");
        let parents: std::collections::HashSet<usize> =
            plan.iter().filter_map(|node| node.parent).collect();
        assert!(
            (0..plan.len())
                .filter(|&position| plan[position].depth == 2)
                .all(|position| parents.contains(&position)),
            "every commune has a unit below it"
        );
    }
}
