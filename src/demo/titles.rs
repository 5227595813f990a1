//! The demo's title cycle (docs/design.md § The annual title cycle): Xã Mỹ Chánh Hòa at the end
//! of 2025. Two offices of the commune, ten persons with their 2023–2025 records, the awards of
//! 2023 and 2024 recorded from the paper decisions of the former Ba Tri district, and the
//! registrations of 2025:
//! - Nguyễn Thị Lan, chiến sĩ thi đua cơ sở in 2023 and 2024, rated excellent in 2025: eligible
//!   for chien_si_thi_dua_tinh (three consecutive years, 2025 by eligibility);
//! - Trần Văn Hùng, chiến sĩ thi đua cơ sở in 2024 only: not (2 of 3);
//! - the commune office meets tap_the_lao_dong_xuat_sac (4 of 5 advanced, one CSTĐCS);
//! - the economic office misses its 70 % (3 of 5 advanced), and only that.
//!
//! Then the year is decided through the same code as `POST /award-decisions`: the 2025 session
//! of the commune council (9 members, 8 present) votes chiến sĩ thi đua cơ sở — Lan and Phúc
//! 8/9, Hùng 7/9, below the 80 % of all members — and decision 215/QĐ-UBND of the commune
//! chairman confers lao động tiên tiến on the seven eligible, chiến sĩ thi đua cơ sở on Lan
//! (the 15 % quota of seven allows one) and tập thể lao động tiên tiến on the commune office;
//! decision 216/QĐ-UBND gives Đặng Thị Thu a giấy khen, revoked for criteria not met.
//!
//! Persons, records and awards have ids derived from their content and registrations are unique
//! per subject, title and year, so loading twice adds nothing; registrations get time-ordered
//! ids, so candidates list in the order they registered.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Date, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::organizations;
use crate::error::AppError;
use crate::organizations::dto::OrganizationKind;
use crate::organizations::model::OrganizationRow;
use crate::organizations::repo;
use crate::titles::rules::{Discipline, Rating};

/// The commune of the demo's title cycle (Xã Mỹ Chánh Hòa, new code 29122).
pub const COMMUNE_CODE: &str = "29122";
/// The year being decided.
pub const YEAR: i32 = 2025;
/// The commune office (meets tap_the_lao_dong_xuat_sac) and the economic office (misses 70 %).
pub const OFFICE_CODE: &str = "29122-VP";
pub const ECONOMY_CODE: &str = "29122-KT";
/// The person eligible for chien_si_thi_dua_tinh in 2025, and the one who is not.
pub const LAN: &str = "Nguyễn Thị Lan";
pub const HUNG: &str = "Trần Văn Hùng";

const LDTT: &str = "lao_dong_tien_tien";
const CSTDCS: &str = "chien_si_thi_dua_co_so";
const CSTDT: &str = "chien_si_thi_dua_tinh";

use Rating::{HoanThanh as HT, HoanThanhTot as HTT, HoanThanhXuatSac as XS};

/// A person of the demo: unit, name, position, gender, ratings 2023–2025, the 2025 initiative,
/// titles awarded in 2023 and 2024, titles registered for 2025.
struct DemoPerson {
    unit: &'static str,
    name: &'static str,
    position: &'static str,
    gender: &'static str,
    ratings: [Rating; 3],
    initiative: Option<&'static str>,
    awarded: &'static [(i32, &'static str)],
    registers: &'static [&'static str],
}

const PERSONS: &[DemoPerson] = &[
    DemoPerson {
        unit: OFFICE_CODE,
        name: LAN,
        position: "Chánh Văn phòng HĐND và UBND xã",
        gender: "female",
        ratings: [XS, XS, XS],
        initiative: Some("Số hóa hồ sơ một cửa liên thông sau sáp nhập xã"),
        awarded: &[(2023, LDTT), (2023, CSTDCS), (2024, LDTT), (2024, CSTDCS)],
        registers: &[LDTT, CSTDCS, CSTDT],
    },
    DemoPerson {
        unit: OFFICE_CODE,
        name: HUNG,
        position: "Phó Chánh Văn phòng",
        gender: "male",
        ratings: [HTT, XS, XS],
        initiative: None,
        awarded: &[(2023, LDTT), (2024, LDTT), (2024, CSTDCS)],
        registers: &[LDTT, CSTDCS, CSTDT],
    },
    DemoPerson {
        unit: OFFICE_CODE,
        name: "Lê Thị Mai",
        position: "Công chức Văn phòng – Thống kê",
        gender: "female",
        ratings: [HTT, HTT, HTT],
        initiative: None,
        awarded: &[(2023, LDTT), (2024, LDTT)],
        registers: &[LDTT],
    },
    DemoPerson {
        unit: OFFICE_CODE,
        name: "Phạm Văn Tâm",
        position: "Công chức Tư pháp – Hộ tịch",
        gender: "male",
        ratings: [HT, HTT, HTT],
        initiative: None,
        awarded: &[(2024, LDTT)],
        registers: &[LDTT],
    },
    DemoPerson {
        unit: OFFICE_CODE,
        name: "Võ Thị Hạnh",
        position: "Văn thư",
        gender: "female",
        ratings: [HT, HT, HT],
        initiative: None,
        awarded: &[],
        registers: &[LDTT],
    },
    DemoPerson {
        unit: ECONOMY_CODE,
        name: "Huỳnh Văn Phúc",
        position: "Trưởng phòng Kinh tế",
        gender: "male",
        ratings: [HTT, HTT, XS],
        initiative: Some("Mô hình tổ hợp tác trồng dừa hữu cơ liên xã"),
        awarded: &[(2023, LDTT), (2024, LDTT)],
        registers: &[LDTT, CSTDCS],
    },
    DemoPerson {
        unit: ECONOMY_CODE,
        name: "Đặng Thị Thu",
        position: "Chuyên viên nông nghiệp",
        gender: "female",
        ratings: [HTT, HTT, HTT],
        initiative: None,
        awarded: &[(2024, LDTT)],
        registers: &[LDTT, "giay_khen"],
    },
    DemoPerson {
        unit: ECONOMY_CODE,
        name: "Bùi Văn Nam",
        position: "Chuyên viên địa chính",
        gender: "male",
        ratings: [HT, HTT, HTT],
        initiative: None,
        awarded: &[(2024, LDTT)],
        registers: &[LDTT],
    },
    DemoPerson {
        unit: ECONOMY_CODE,
        name: "Ngô Thị Hoa",
        position: "Chuyên viên môi trường",
        gender: "female",
        ratings: [HTT, HT, HT],
        initiative: None,
        awarded: &[(2023, LDTT)],
        registers: &[LDTT],
    },
    DemoPerson {
        unit: ECONOMY_CODE,
        name: "Dương Văn Lợi",
        position: "Chuyên viên giao thông – xây dựng",
        gender: "male",
        ratings: [HT, HT, HT],
        initiative: None,
        awarded: &[],
        registers: &[LDTT],
    },
];

/// The paper decisions of the former Ba Tri district that conferred the titles of a year.
fn decision_of(year: i32, title: &str) -> (&'static str, NaiveDate) {
    let day = NaiveDate::from_ymd_opt(year, 12, 20).unwrap_or_default();
    match (year, title == LDTT) {
        (2023, true) => ("4125/QĐ-UBND", day),
        (2023, false) => ("4126/QĐ-UBND", day),
        (_, true) => ("3987/QĐ-UBND", day),
        (_, false) => ("3988/QĐ-UBND", day),
    }
}

/// A stable id for a demo row.
fn id_of(what: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("thidua-demo:{what}").as_bytes(),
    )
}

async fn office(
    conn: &mut AsyncPgConnection,
    commune: &OrganizationRow,
    code: &str,
    name: &str,
) -> Result<OrganizationRow, AppError> {
    let existing = organizations::table
        .filter(organizations::code.eq(code))
        .filter(organizations::parent_id.eq(commune.id))
        .select(OrganizationRow::as_select())
        .first(conn)
        .await
        .optional()?;
    match existing {
        Some(row) => Ok(row),
        None => Ok(repo::insert(
            conn,
            Some(commune),
            OrganizationKind::Agency,
            name,
            Some(code),
        )
        .await?),
    }
}

async fn put_record(
    conn: &mut AsyncPgConnection,
    person: Option<Uuid>,
    organization: Option<Uuid>,
    year: i32,
    rating: Rating,
    initiative: Option<&str>,
) -> Result<(), AppError> {
    diesel::sql_query(
        "INSERT INTO year_records (person_id, organization_id, year, completion_rating, initiative, discipline) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind::<Nullable<SqlUuid>, _>(person)
    .bind::<Nullable<SqlUuid>, _>(organization)
    .bind::<Integer, _>(year)
    .bind::<Text, _>(rating)
    .bind::<Nullable<Text>, _>(initiative)
    .bind::<Text, _>(Discipline::None)
    .execute(conn)
    .await?;
    Ok(())
}

async fn register(
    conn: &mut AsyncPgConnection,
    person: Option<Uuid>,
    organization: Option<Uuid>,
    title: &str,
) -> Result<(), AppError> {
    diesel::sql_query(
        "INSERT INTO title_registrations (id, person_id, organization_id, title_code, year) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<Nullable<SqlUuid>, _>(person)
    .bind::<Nullable<SqlUuid>, _>(organization)
    .bind::<Text, _>(title)
    .bind::<Integer, _>(YEAR)
    .execute(conn)
    .await?;
    Ok(())
}

/// Loads the title cycle of Xã Mỹ Chánh Hòa (see the module documentation).
pub async fn seed(conn: &mut AsyncPgConnection, commune: &OrganizationRow) -> Result<(), AppError> {
    let ba_tri: Option<Uuid> = organizations::table
        .filter(organizations::code.eq("836"))
        .filter(organizations::valid_from.is_null())
        .select(organizations::id)
        .first(conn)
        .await
        .optional()?;
    let office_unit = office(
        conn,
        commune,
        OFFICE_CODE,
        "Văn phòng HĐND và UBND xã Mỹ Chánh Hòa",
    )
    .await?;
    let economy_unit = office(conn, commune, ECONOMY_CODE, "Phòng Kinh tế xã Mỹ Chánh Hòa").await?;
    for unit in [&office_unit, &economy_unit] {
        put_record(conn, None, Some(unit.id), YEAR, HTT, None).await?;
        for title in ["tap_the_lao_dong_xuat_sac", "tap_the_lao_dong_tien_tien"] {
            register(conn, None, Some(unit.id), title).await?;
        }
    }
    for person in PERSONS {
        let unit = if person.unit == OFFICE_CODE {
            &office_unit
        } else {
            &economy_unit
        };
        let id = id_of(&format!("person:{}", person.name));
        diesel::sql_query(
            "INSERT INTO persons (id, organization_id, full_name, position, gender) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<SqlUuid, _>(unit.id)
        .bind::<Text, _>(person.name)
        .bind::<Text, _>(person.position)
        .bind::<Text, _>(person.gender)
        .execute(conn)
        .await?;
        for (offset, rating) in person.ratings.iter().enumerate() {
            let year = YEAR - 2 + offset as i32;
            let initiative = if year == YEAR {
                person.initiative
            } else {
                None
            };
            put_record(conn, Some(id), None, year, *rating, initiative).await?;
        }
        for &(year, title) in person.awarded {
            let (number, day) = decision_of(year, title);
            diesel::sql_query(
                "INSERT INTO awards (id, person_id, title_code, year, issuer_organization_id, decision_no, decided_on) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind::<SqlUuid, _>(id_of(&format!("award:{id}:{title}:{year}")))
            .bind::<SqlUuid, _>(id)
            .bind::<Text, _>(title)
            .bind::<Integer, _>(year)
            .bind::<Nullable<SqlUuid>, _>(ba_tri)
            .bind::<Text, _>(number)
            .bind::<Date, _>(day)
            .execute(conn)
            .await?;
        }
        for title in person.registers {
            register(conn, Some(id), None, title).await?;
        }
    }
    Ok(())
}

/// The chairman of Xã Mỹ Chánh Hòa who signs the demo's decisions.
pub const SIGNER: &str = "Nguyễn Văn Bình";
/// The decision of the year, and the one revoked.
pub const DECISION_NO: &str = "215/QĐ-UBND";
pub const REVOKED_NO: &str = "216/QĐ-UBND";

/// The council session, the decisions and the revocation of 2025 (see the module
/// documentation); nothing when decision 215 exists.
pub async fn seed_decisions(
    conn: &mut AsyncPgConnection,
    commune: &OrganizationRow,
) -> Result<(), AppError> {
    use crate::awards::dto::{AwardRequest, CreateDecision, CreateSession, RevocationReason};
    use crate::awards::repo as awards_repo;
    use crate::titles::rules::SubjectType;
    let exists: i64 = diesel::sql_query(
        "SELECT count(*) AS count FROM award_decisions WHERE issuer_organization_id = $1 AND decision_no = $2",
    )
    .bind::<SqlUuid, _>(commune.id)
    .bind::<Text, _>(DECISION_NO)
    .get_result::<Count>(conn)
    .await?
    .count;
    if exists > 0 {
        return Ok(());
    }
    let session_id = Uuid::now_v7();
    let day = |m: u32, d: u32| NaiveDate::from_ymd_opt(YEAR, m, d).unwrap_or_default();
    awards_repo::insert_session(
        conn,
        session_id,
        &CreateSession {
            organization_id: commune.id,
            year: YEAR,
            held_on: day(12, 22),
            members_total: 9,
            members_present: 8,
        },
        None,
    )
    .await?;
    let person = |name: &str| id_of(&format!("person:{name}"));
    for (name, approve, disapprove) in [(LAN, 8, 0), (HUNG, 7, 1), ("Huỳnh Văn Phúc", 8, 0)] {
        awards_repo::insert_ballot(
            conn,
            awards_repo::NewBallot {
                session: session_id,
                subject: (SubjectType::Person, person(name)),
                title_code: CSTDCS,
                approve,
                disapprove,
                invalid: 0,
                created_by: None,
            },
        )
        .await?;
    }
    let office = organizations::table
        .filter(organizations::code.eq(OFFICE_CODE))
        .select(organizations::id)
        .first::<Uuid>(conn)
        .await?;
    let award = |subject_type, subject_id, title: &str| AwardRequest {
        subject_type,
        subject_id,
        title_code: title.to_owned(),
    };
    let mut awards: Vec<AwardRequest> = [
        LAN,
        HUNG,
        "Lê Thị Mai",
        "Phạm Văn Tâm",
        "Huỳnh Văn Phúc",
        "Đặng Thị Thu",
        "Bùi Văn Nam",
    ]
    .iter()
    .map(|name| award(SubjectType::Person, person(name), LDTT))
    .collect();
    awards.push(award(SubjectType::Person, person(LAN), CSTDCS));
    awards.push(award(
        SubjectType::Organization,
        office,
        "tap_the_lao_dong_tien_tien",
    ));
    crate::awards::handlers::issue(
        conn,
        None,
        &CreateDecision {
            issuer_organization_id: commune.id,
            decision_no: DECISION_NO.to_owned(),
            decided_on: day(12, 26),
            year: Some(YEAR),
            signer_name: SIGNER.to_owned(),
            council_session_id: Some(session_id),
            awards,
        },
    )
    .await?;
    let revoked = crate::awards::handlers::issue(
        conn,
        None,
        &CreateDecision {
            issuer_organization_id: commune.id,
            decision_no: REVOKED_NO.to_owned(),
            decided_on: day(12, 26),
            year: Some(YEAR),
            signer_name: SIGNER.to_owned(),
            council_session_id: None,
            awards: vec![award(
                SubjectType::Person,
                person("Đặng Thị Thu"),
                "giay_khen",
            )],
        },
    )
    .await?;
    awards_repo::revoke(
        conn,
        revoked.id,
        None,
        RevocationReason::CriteriaNotMet,
        "Hồ sơ kê khai thành tích không đúng thực tế",
        None,
    )
    .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}
