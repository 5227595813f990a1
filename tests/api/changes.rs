//! The change feed (`GET /changes`, docs/design.md § The change feed): order and resumption,
//! no gap and no duplicate under concurrent writers, tombstones for deletes and for entities
//! that left the caller's view, visibility like the lists, retention and the types filter.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::ctx::Ctx;
use crate::helpers::fixture;
use crate::helpers::status_and_json;

const CHANGES: &str = "/api/v1/changes";
const PLEDGES: &str = "/api/v1/pledges";

async fn new_ctx() -> Ctx {
    Ctx::new(&[("nong_thon_moi", "Nông thôn mới")], &[]).await
}

async fn create_pledge(ctx: &Ctx, user: &str, organization: Uuid, title: &str) -> String {
    ctx.create_pledge(user, organization, title).await
}

/// One page of the feed: (status, body).
async fn page(ctx: &Ctx, token: &str, query: &str) -> (u16, Value) {
    status_and_json(ctx.app.get(&format!("{CHANGES}?{query}"), token).await).await
}

/// Every item from `after` until `next_cursor` is null, pages of `limit`; and the last cursor.
async fn drain(
    ctx: &Ctx,
    token: &str,
    after: Option<&str>,
    extra: &str,
    limit: u32,
) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut after = after.map(str::to_owned);
    loop {
        let mut query = format!("limit={limit}{extra}");
        if let Some(cursor) = &after {
            query.push_str(&format!("&after={cursor}"));
        }
        let (status, body) = page(ctx, token, &query).await;
        assert_eq!(status, 200, "{body}");
        items.extend(body["items"].as_array().unwrap().iter().cloned());
        let cursor = body["cursor"].as_str().unwrap().to_owned();
        if body["next_cursor"].is_null() {
            return (items, cursor);
        }
        assert_eq!(body["next_cursor"], body["cursor"]);
        after = Some(cursor);
    }
}

fn summary(items: &[Value]) -> Vec<(String, String, bool)> {
    items
        .iter()
        .map(|item| {
            (
                item["id"].as_str().unwrap().to_owned(),
                item["action"].as_str().unwrap().to_owned(),
                item["tombstone"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn seqs(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|item| item["seq"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn feed_lists_changes_in_commit_order_and_resumes_from_a_stored_cursor() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let reviewer = ctx.token(fixture::D1_REVIEWER);
    let a = create_pledge(&ctx, fixture::C1_MANAGER, c1, "Đường giao thông").await;
    let b = create_pledge(&ctx, fixture::C1_MANAGER, c1, "Trường học").await;
    let (status, body) = status_and_json(
        ctx.post_action(PLEDGES, ctx.token(fixture::C1_MANAGER), &a, "submit", None)
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (items, cursor) = drain(&ctx, reviewer, None, "&types=pledge", 2).await;
    assert_eq!(
        summary(&items),
        vec![
            (a.clone(), "created".to_owned(), false),
            (b.clone(), "created".to_owned(), false),
            (a.clone(), "transitioned".to_owned(), false),
        ]
    );
    let numbers = seqs(&items);
    assert!(
        numbers.windows(2).all(|pair| pair[0] < pair[1]),
        "{numbers:?}"
    );
    assert_eq!(items[2]["version"], 2);
    assert_eq!(items[0]["organization_id"], c1.to_string());
    assert_eq!(items[0]["type"], "pledge");

    // Caught up: the stored cursor answers nothing new, then exactly the next change.
    let (again, cursor) = drain(&ctx, reviewer, Some(&cursor), "&types=pledge", 2).await;
    assert!(again.is_empty(), "{again:?}");
    let c = create_pledge(&ctx, fixture::C1_MANAGER, c1, "Nước sạch").await;
    let (next, _) = drain(&ctx, reviewer, Some(&cursor), "&types=pledge", 2).await;
    assert_eq!(summary(&next), vec![(c, "created".to_owned(), false)]);
    assert!(next[0]["seq"].as_i64().unwrap() > *numbers.last().unwrap());
}

#[tokio::test]
async fn concurrent_writers_never_make_the_feed_skip_or_repeat_an_event() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let admin = ctx.token(fixture::ADMIN).to_owned();
    let seeds: Vec<String> = join_all((0..4).map(|i| {
        let ctx = &ctx;
        async move { create_pledge(ctx, fixture::C1_MANAGER, c1, &format!("Hạt giống {i}")).await }
    }))
    .await;
    let done = Arc::new(AtomicBool::new(false));

    // Writers: transactions held open for a while (they take their event ids early and
    // commit late), one that rolls back, and a burst of short API writes meanwhile.
    let writers = {
        let done = done.clone();
        let ctx = &ctx;
        let seeds = &seeds;
        async move {
            let slow = seeds.iter().enumerate().map(|(i, seed)| async move {
                let client = ctx.app.db.client().await;
                let end = if i == 3 { "ROLLBACK" } else { "COMMIT" };
                client
                    .batch_execute(&format!(
                        "BEGIN; UPDATE pledges SET title = title || ' (sửa)' WHERE id = '{seed}'; \
                         SELECT pg_sleep({}); UPDATE pledges SET title = title || '.' WHERE id = '{seed}'; {end}",
                        0.2 + 0.25 * i as f64
                    ))
                    .await
                    .unwrap();
            });
            let fast = (0..24).map(|i| async move {
                tokio::time::sleep(Duration::from_millis(30 * (i % 8))).await;
                create_pledge(ctx, fixture::C1_MANAGER, c1, &format!("Nhanh {i}")).await;
            });
            tokio::join!(join_all(slow), join_all(fast));
            done.store(true, Ordering::SeqCst);
        }
    };
    // The reader pages while they write, from a stored cursor, and stops only once the
    // writers are done and it has caught up.
    let reader = async {
        let mut seen: Vec<i64> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let finished = done.load(Ordering::SeqCst);
            let mut query = "limit=3".to_owned();
            if let Some(cursor) = &after {
                query.push_str(&format!("&after={cursor}"));
            }
            let (status, body) = page(&ctx, &admin, &query).await;
            assert_eq!(status, 200, "{body}");
            seen.extend(seqs(body["items"].as_array().unwrap()));
            after = Some(body["cursor"].as_str().unwrap().to_owned());
            if finished && body["next_cursor"].is_null() {
                return seen;
            }
            if body["next_cursor"].is_null() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let ((), seen) = tokio::join!(writers, reader);

    let client = ctx.app.db.client().await;
    let unnumbered: i64 = client
        .query_one("SELECT count(*) FROM change_events WHERE seq IS NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(unnumbered, 0);
    let all: Vec<i64> = client
        .query("SELECT seq FROM change_events ORDER BY seq", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let distinct: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), seen.len(), "an event was repeated");
    assert!(
        seen.windows(2).all(|pair| pair[0] < pair[1]),
        "out of order"
    );
    assert_eq!(seen, all, "the pages differ from the events written");
    // 4 seeds + 24 creates + 2 updates in each of the 3 committed slow transactions (the rolled
    // back one left nothing), besides the fixture's own events.
    let pledge_events: i64 = client
        .query_one(
            "SELECT count(*) FROM change_events WHERE entity_type = 'pledge'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pledge_events, 4 + 24 + 6);
}

#[tokio::test]
async fn deleted_draft_is_a_tombstone() {
    let ctx = new_ctx().await;
    let c1 = ctx.fixture.tree.c1.id;
    let reviewer = ctx.token(fixture::D1_REVIEWER);
    let (_, cursor) = drain(&ctx, reviewer, None, "", 50).await;
    let draft = create_pledge(&ctx, fixture::C1_MANAGER, c1, "Bản nháp").await;
    let response = ctx
        .app
        .request(
            Method::DELETE,
            &format!("{PLEDGES}/{draft}"),
            Some(ctx.token(fixture::C1_MANAGER)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let (items, _) = drain(&ctx, reviewer, Some(&cursor), "", 50).await;
    assert_eq!(
        summary(&items),
        vec![
            (draft.clone(), "created".to_owned(), false),
            (draft, "deleted".to_owned(), true),
        ]
    );
}

#[tokio::test]
async fn a_pledge_and_a_person_moved_out_of_view_are_tombstones_for_who_saw_them() {
    let ctx = new_ctx().await;
    let tree = &ctx.fixture.tree;
    let reviewer = ctx.token(fixture::D1_REVIEWER);
    let admin = ctx.token(fixture::ADMIN);
    let pledge = create_pledge(&ctx, fixture::C1_MANAGER, tree.c1.id, "Sẽ chuyển đi").await;
    let (status, body) = status_and_json(
        ctx.app
            .post_json(
                "/api/v1/persons",
                admin,
                &json!({"organization_id": tree.k1.id, "full_name": "Lê Văn Theo"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let person = body["id"].as_str().unwrap().to_owned();
    let (_, reviewer_cursor) = drain(&ctx, reviewer, None, "", 50).await;
    let (_, admin_cursor) = drain(&ctx, admin, None, "", 50).await;

    // C1 (and its pledge) moves from D1 to D2: out of D1's view.
    let (status, body) = status_and_json(
        ctx.app
            .post_json(
                &format!("/api/v1/organizations/{}/move", tree.c1.id),
                admin,
                &json!({"parent_id": tree.d2.id}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (items, _) = drain(&ctx, reviewer, Some(&reviewer_cursor), "&types=pledge", 50).await;
    assert_eq!(
        summary(&items),
        vec![(pledge.clone(), "moved".to_owned(), true)]
    );
    assert!(items[0]["organization_id"].is_null(), "{items:?}");
    // The unit itself left D1's view too.
    let (units, _) = drain(
        &ctx,
        reviewer,
        Some(&reviewer_cursor),
        "&types=organization",
        50,
    )
    .await;
    assert!(
        units
            .iter()
            .any(|item| item["id"] == tree.c1.id.to_string() && item["tombstone"] == true),
        "{units:?}"
    );
    // The person of K1 (below C1) went with its unit.
    let (items, _) = drain(&ctx, reviewer, Some(&reviewer_cursor), "&types=person", 50).await;
    assert_eq!(
        summary(&items),
        vec![(person.clone(), "moved".to_owned(), true)]
    );
    // Whoever sees both places sees a move, not a tombstone.
    let (items, _) = drain(&ctx, admin, Some(&admin_cursor), "&types=pledge", 50).await;
    assert_eq!(summary(&items), vec![(pledge, "moved".to_owned(), false)]);
    assert_eq!(items[0]["organization_id"], tree.c1.id.to_string());
    let (items, _) = drain(&ctx, admin, Some(&admin_cursor), "&types=person", 50).await;
    assert_eq!(summary(&items), vec![(person, "moved".to_owned(), false)]);
    assert_eq!(items[0]["organization_id"], tree.k1.id.to_string());
}

#[tokio::test]
async fn another_district_sees_nothing_of_it() {
    let ctx = new_ctx().await;
    let tree = &ctx.fixture.tree;
    let pledge = create_pledge(&ctx, fixture::C1_MANAGER, tree.c1.id, "Của D1").await;
    let (items, _) = drain(&ctx, ctx.token(fixture::C2_MANAGER), None, "", 50).await;
    assert!(!items.is_empty(), "C2 sees its own unit");
    for item in &items {
        assert_ne!(item["id"], pledge.as_str(), "{item}");
        if let Some(unit) = item["organization_id"].as_str() {
            assert_eq!(unit, tree.c2.id.to_string(), "{item}");
        }
    }
    // The D1 reviewer does see it.
    let (items, _) = drain(
        &ctx,
        ctx.token(fixture::D1_REVIEWER),
        None,
        "&types=pledge",
        50,
    )
    .await;
    assert_eq!(summary(&items), vec![(pledge, "created".to_owned(), false)]);
}

#[tokio::test]
async fn cursor_older_than_the_retention_is_gone() {
    let ctx = new_ctx().await;
    let admin = ctx.token(fixture::ADMIN);
    let (status, first) = page(&ctx, admin, "limit=1").await;
    assert_eq!(status, 200, "{first}");
    let old_cursor = first["cursor"].as_str().unwrap().to_owned();
    let (_, latest) = drain(&ctx, admin, None, "", 200).await;

    // Everything written so far is now 40 days old, and the periodic purge runs.
    let client = ctx.app.db.client().await;
    client
        .batch_execute("UPDATE change_events SET at = now() - interval '40 days'")
        .await
        .unwrap();
    let purged: i64 = client
        .query_one("SELECT r.purge_changes(interval '30 days')", &[])
        .await
        .unwrap()
        .get(0);
    assert!(purged > 0);

    let (status, body) = page(&ctx, admin, &format!("after={old_cursor}")).await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["code"], "resync_required");
    // A client that has seen everything, or starts afresh, carries on.
    let (status, body) = page(&ctx, admin, &format!("after={latest}")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = page(&ctx, admin, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"], json!([]));
}

#[tokio::test]
async fn types_filter_keeps_only_the_named_types_and_bad_parameters_are_refused() {
    let ctx = new_ctx().await;
    let admin = ctx.token(fixture::ADMIN);
    create_pledge(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, "Một").await;
    let (items, _) = drain(&ctx, admin, None, "&types=organization", 200).await;
    assert_eq!(items.len(), 8, "the fixture's units: {items:?}");
    assert!(items.iter().all(|item| item["type"] == "organization"));
    let (items, _) = drain(&ctx, admin, None, "&types=pledge,organization", 200).await;
    assert_eq!(items.len(), 9);

    for query in [
        "types=pledges",
        "after=garbage",
        "limit=0",
        "limit=201",
        "after=LTE",
    ] {
        let (status, body) = page(&ctx, admin, query).await;
        assert_eq!(status, 400, "{query}: {body}");
    }
    // Partner clients read with their scope, like the lists.
    let client = ctx.fixture.client_token(&ctx.app).await;
    let (status, body) = page(&ctx, &client, "types=organization").await;
    assert_eq!(status, 200, "{body}");
}

/// A page reads events in growing batches up to 1 000 in all: a caller who sees few events gets
/// a short (even empty) page with `next_cursor` set while unseen events remain, and then the
/// rest; a caller who sees every event gets full pages. Nothing is skipped either way.
#[tokio::test]
async fn a_page_scans_at_most_a_thousand_events_and_skips_none() {
    let ctx = new_ctx().await;
    let tree = &ctx.fixture.tree;
    let c2_manager = ctx.token(fixture::C2_MANAGER);
    let admin = ctx.token(fixture::ADMIN);
    let (_, c2_start) = drain(&ctx, c2_manager, None, "", 50).await;
    let (_, admin_start) = drain(&ctx, admin, None, "", 200).await;
    // 1 500 events of D1 (C2 does not see them), written in one transaction, then one of C2.
    let client = ctx.app.db.client().await;
    client
        .batch_execute(&format!(
            "INSERT INTO change_events (entity_type, entity_id, action, version, organization_id, path) \
             SELECT 'pledge', gen_random_uuid()::text, 'created', 1, '{}', '{}' \
             FROM generate_series(1, 1500)",
            tree.c1.id, tree.c1.path
        ))
        .await
        .unwrap();
    let own = create_pledge(&ctx, fixture::C2_MANAGER, tree.c2.id, "Của C2").await;

    // C2: the first page scanned 1 000 invisible events, so it is empty and says "more".
    let (status, body) = page(&ctx, c2_manager, &format!("limit=10&after={c2_start}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"], json!([]), "{body}");
    assert!(!body["next_cursor"].is_null(), "{body}");
    let (items, _) = drain(&ctx, c2_manager, Some(&c2_start), "", 10).await;
    assert_eq!(
        items
            .iter()
            .filter(|item| item["type"] == "pledge")
            .map(|item| item["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [own.as_str()]
    );
    // The administrator: full pages of 200 in seq order, 1 501 pledge events in all.
    let (status, body) = page(&ctx, admin, &format!("limit=200&after={admin_start}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 200, "{body}");
    let (items, _) = drain(&ctx, admin, Some(&admin_start), "&types=pledge", 200).await;
    assert_eq!(items.len(), 1501);
    let seqs = seqs(&items);
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]));
}
