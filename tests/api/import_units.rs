//! `thidua import-units` over the real data of data/vn-admin-2025: the whole country on an
//! empty database, and the reform of Tỉnh Vĩnh Long applied to the Ba Tri demo, whose units
//! carry their real old codes.

use std::path::Path;
use std::time::Instant;

use serde_json::Value;
use thidua::restructurings::import::{self, Options};

use crate::helpers::TestApp;
use crate::helpers::arrange::the_unit_coded;
use crate::helpers::titles::get_ok;

const MERGES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/vn-admin-2025/merges.json"
);

async fn import(
    app: &TestApp,
    province: Option<&str>,
    dry_run: bool,
) -> Vec<import::ProvinceOutcome> {
    let mut conn = app.state.db.write().await.expect("connection");
    let options = Options {
        merges: Path::new(MERGES),
        province,
        dry_run,
    };
    import::run(&mut conn, &options).await.expect("import")
}

async fn unit(app: &TestApp, token: &str, code: &str, valid_on: &str) -> Value {
    let page = get_ok(
        app,
        token,
        &format!("/api/v1/organizations?limit=200&q={code}&valid_on={valid_on}"),
    )
    .await;
    the_unit_coded(&page, code).clone()
}

#[tokio::test]
async fn an_empty_database_gets_the_34_provinces_and_3321_communes_once() {
    let app = TestApp::spawn().await;
    let started = Instant::now();
    let outcomes = import(&app, None, false).await;
    println!("national import: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(outcomes.len(), 34);
    let count = |sql: &'static str| {
        let app = &app;
        async move { app.db.count(sql).await }
    };
    assert_eq!(
        count("SELECT count(*) FROM organizations WHERE kind = 'province'").await,
        34
    );
    assert_eq!(
        count("SELECT count(*) FROM organizations WHERE kind IN ('commune', 'ward')").await,
        3321
    );
    assert_eq!(
        count("SELECT count(*) FROM organizations WHERE kind = 'ward'").await,
        687
    );
    assert_eq!(
        count("SELECT count(*) FROM organizations WHERE valid_from <> '2025-07-01' OR valid_to IS NOT NULL").await,
        0
    );
    assert_eq!(count("SELECT count(*) FROM restructurings").await, 34);
    // Every commune sits under its province.
    assert_eq!(
        count(
            "SELECT count(*) FROM organizations c JOIN organizations p ON p.id = c.parent_id \
             WHERE c.kind IN ('commune', 'ward') AND p.kind = 'province'"
        )
        .await,
        3321
    );

    // Again: every province was imported before.
    let again = import(&app, None, false).await;
    assert!(again.iter().all(|outcome| outcome.preview.is_none()));
    assert_eq!(count("SELECT count(*) FROM organizations").await, 34 + 3321);
}

#[tokio::test]
async fn the_reform_of_vinh_long_merges_the_demo_units_found_by_old_code() {
    let app = TestApp::spawn().await;
    thidua::demo::seed_before_reform(&app.state).await.unwrap();
    let admin = app.token("admin", thidua::demo::ADMIN_PASSWORD).await;
    let ba_tri = unit(&app, &admin, "836", "2025-06-30").await;
    let ben_tre = unit(&app, &admin, "83", "2025-06-30").await;
    // The 2022 figures of `/stats/{endpoint}` for a unit as the admin reads them.
    let stats_2022 = |endpoint: &'static str, unit: &Value| {
        let path = format!(
            "/api/v1/stats/{endpoint}?organization_id={}&year=2022",
            unit["id"].as_str().unwrap()
        );
        let app = &app;
        let admin = &admin;
        async move { get_ok(app, admin, &path).await }
    };
    let ba_tri_before = stats_2022("coverage", &ba_tri).await;
    let province_before = stats_2022("overview", &ben_tre).await;

    // A dry run writes nothing and says what would happen.
    let before = app.db.count("SELECT count(*) FROM organizations").await;
    let preview = import(&app, Some("86"), true).await;
    assert_eq!(
        app.db.count("SELECT count(*) FROM organizations").await,
        before
    );
    let ended = &preview[0].preview.as_ref().unwrap().ended;
    // Bến Tre, Ba Tri and its seven communes.
    assert_eq!(ended.len(), 9, "{ended:?}");
    let line = import::summary(&preview[0], true);
    assert!(
        line.starts_with("Tỉnh Vĩnh Long (86): would create 125 units, ended 9"),
        "{line}"
    );

    let applied = import(&app, Some("86"), false).await;
    assert!(applied[0].restructuring_id.is_some());

    // Old and new codes meet only across the reform day: 29137 is Xã Tân Xuân from 1/7/2025,
    // whose old code was 29119; 29125 is Xã Bảo Thạnh before and after.
    assert_eq!(
        unit(&app, &admin, "29137", "2025-07-01").await["name"],
        "Xã Tân Xuân"
    );
    assert_eq!(
        unit(&app, &admin, "29119", "2025-06-30").await["name"],
        "Xã Tân Xuân"
    );
    let old_bao_thanh = unit(&app, &admin, "29125", "2025-06-30").await;
    let new_bao_thanh = unit(&app, &admin, "29125", "2025-07-01").await;
    assert_ne!(old_bao_thanh["id"], new_bao_thanh["id"]);

    // Mỹ Hòa continues in Xã Mỹ Chánh Hòa, Bến Tre in Tỉnh Vĩnh Long; Ba Tri is gone.
    let my_hoa = unit(&app, &admin, "29116", "2025-06-30").await;
    let my_chanh_hoa = unit(&app, &admin, "29122", "2025-07-01").await;
    assert_eq!(my_hoa["valid_to"], "2025-06-30");
    assert_eq!(
        my_hoa["successors"][0]["id"], my_chanh_hoa["id"],
        "{my_hoa}"
    );
    let vinh_long = unit(&app, &admin, "86", "2025-07-01").await;
    let lineage = get_ok(
        &app,
        &admin,
        &format!(
            "/api/v1/organizations/{}/lineage",
            vinh_long["id"].as_str().unwrap()
        ),
    )
    .await;
    assert!(
        lineage["predecessors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|link| link["id"] == ben_tre["id"]),
        "{lineage}"
    );
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) FROM organizations WHERE parent_id = '{}' AND kind IN ('commune', 'ward')",
                vinh_long["id"].as_str().unwrap()
            ))
            .await,
        124
    );
    assert_eq!(
        unit(&app, &admin, "836", "2025-06-30").await["valid_to"],
        "2025-06-30"
    );

    // 2022 reads as it did, and the new province answers for Bến Tre.
    let ba_tri_after = stats_2022("coverage", &ba_tri).await;
    assert_eq!(ba_tri_after["units"], ba_tri_before["units"]);
    assert_eq!(
        (&ba_tri_after["expected"], &ba_tri_after["registered"]),
        (&7.into(), &7.into())
    );
    let province_after = stats_2022("overview", &vinh_long).await;
    crate::restructurings::assert_same_counts(&province_after, &province_before);

    // Running it again changes nothing.
    let again = import(&app, Some("86"), false).await;
    assert!(again[0].preview.is_none());
}

/// `thidua import-units` as an operator runs it: the built binary, its own configuration from
/// the environment only, on a database that does not exist yet (the command creates and
/// migrates it). Returns the exit status's success, standard output and standard error.
fn import_units_binary(database_url: &str, args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_thidua"))
        .arg("import-units")
        .args(["--merges", MERGES])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("THIDUA_ENV", "development")
        .env("RUST_LOG", "warn")
        // No `.env` of the checkout.
        .current_dir(std::env::temp_dir())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the thidua binary");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `thidua import-units` with `args`, which must succeed and print every one of `lines`.
fn import_units_says(database_url: &str, args: &[&str], lines: &[&str]) {
    let (ok, stdout, stderr) = import_units_binary(database_url, args);
    assert!(ok, "{stdout}\n{stderr}");
    for line in lines {
        assert!(stdout.contains(line), "{line:?} in {stdout}");
    }
}

#[tokio::test]
async fn the_binary_previews_with_dry_run_then_imports_one_province_once() {
    let db = crate::helpers::db::TestDb::empty().await;
    let count = |sql: &'static str| {
        let db = &db;
        async move { db.count(sql).await }
    };

    // --dry-run: the preview on standard output, nothing written (the schema is, by migrate).
    import_units_says(
        &db.url,
        &["--province", "86", "--dry-run"],
        &[
            "Tỉnh Vĩnh Long (86): would create 125 units, ended 0",
            "1 province(s) previewed, nothing written",
        ],
    );
    assert_eq!(count("SELECT count(*) FROM organizations").await, 0);
    assert_eq!(count("SELECT count(*) FROM restructurings").await, 0);

    // For real: the province and its 124 communes and wards, one restructuring.
    import_units_says(
        &db.url,
        &["--province", "86"],
        &[
            "Tỉnh Vĩnh Long (86): created 125 units",
            "; restructuring ",
            "1 province(s) done",
        ],
    );
    assert_eq!(
        count("SELECT count(*) FROM organizations WHERE kind = 'province' AND code = '86'").await,
        1
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM organizations c JOIN organizations p ON p.id = c.parent_id \
             WHERE c.kind IN ('commune', 'ward') AND p.code = '86' AND c.valid_from = '2025-07-01'"
        )
        .await,
        124
    );
    assert_eq!(count("SELECT count(*) FROM organizations").await, 125);
    assert_eq!(count("SELECT count(*) FROM restructurings").await, 1);

    // Again: imported before, skipped, nothing added.
    import_units_says(
        &db.url,
        &["--province", "86"],
        &["Tỉnh Vĩnh Long (86): imported before, skipped"],
    );
    assert_eq!(count("SELECT count(*) FROM organizations").await, 125);

    // A province code the data does not have fails, saying so.
    let (ok, stdout, stderr) = import_units_binary(&db.url, &["--province", "99"]);
    assert!(!ok, "{stdout}\n{stderr}");
    assert!(stderr.contains("no new province with code 99"), "{stderr}");
}
