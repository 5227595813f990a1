// @generated automatically by Diesel CLI.

pub mod sql_types {
    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "xid8", schema = "pg_catalog"))]
    pub struct Xid8;
}

diesel::table! {
    audit_events (id) {
        id -> Uuid,
        occurred_at -> Timestamptz,
        actor_id -> Nullable<Uuid>,
        actor_kind -> Text,
        action -> Text,
        entity_type -> Text,
        entity_id -> Uuid,
        organization_id -> Nullable<Uuid>,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    award_decisions (id) {
        id -> Uuid,
        issuer_organization_id -> Uuid,
        decision_no -> Text,
        year -> Int4,
        decided_on -> Date,
        signer_name -> Text,
        council_session_id -> Nullable<Uuid>,
        rule_set_id -> Uuid,
        base_salary -> Int8,
        reward_total -> Int8,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    award_tallies (ancestor_path, year, title_code, subject_type) {
        ancestor_path -> Text,
        year -> Int4,
        title_code -> Text,
        subject_type -> Text,
        awards -> Int8,
        reward_total -> Int8,
        revoked -> Int8,
        recovery_total -> Int8,
    }
}

diesel::table! {
    awards (id) {
        id -> Uuid,
        person_id -> Nullable<Uuid>,
        organization_id -> Nullable<Uuid>,
        subject_id -> Nullable<Uuid>,
        title_code -> Text,
        year -> Int4,
        rule_set_id -> Nullable<Uuid>,
        issuer_organization_id -> Nullable<Uuid>,
        decision_no -> Nullable<Text>,
        decided_on -> Nullable<Date>,
        reward_amount -> Nullable<Int8>,
        revoked_at -> Nullable<Timestamptz>,
        revocation_reason -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        decision_id -> Nullable<Uuid>,
        recovery_amount -> Nullable<Int8>,
        revocation_note -> Nullable<Text>,
        revoked_by -> Nullable<Uuid>,
        organization_path -> Text,
    }
}

diesel::table! {
    ballots (id) {
        id -> Uuid,
        session_id -> Uuid,
        person_id -> Nullable<Uuid>,
        organization_id -> Nullable<Uuid>,
        subject_id -> Nullable<Uuid>,
        title_code -> Text,
        approve -> Int4,
        disapprove -> Int4,
        invalid -> Int4,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    base_salaries (effective_from) {
        effective_from -> Date,
        amount -> Int8,
        legal_basis -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    campaigns (id) {
        id -> Uuid,
        code -> Text,
        name -> Text,
        directive -> Nullable<Text>,
        owner_organization_id -> Uuid,
        starts_on -> Date,
        ends_on -> Date,
        vision_year -> Nullable<Int4>,
        description -> Nullable<Text>,
        fields -> Jsonb,
        search_text -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int4,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Xid8;

    change_events (id) {
        id -> Int8,
        xid -> Xid8,
        seq -> Nullable<Int8>,
        entity_type -> Text,
        entity_id -> Text,
        action -> Text,
        version -> Nullable<Int4>,
        organization_id -> Nullable<Uuid>,
        path -> Nullable<Text>,
        old_path -> Nullable<Text>,
        touched_paths -> Nullable<Array<Nullable<Text>>>,
        at -> Timestamptz,
    }
}

diesel::table! {
    change_feed_state (singleton) {
        singleton -> Bool,
        last_seq -> Int8,
        purged_through -> Int8,
    }
}

diesel::table! {
    clients (id) {
        id -> Uuid,
        name -> Text,
        secret_hash -> Text,
        organization_id -> Uuid,
        scopes -> Array<Nullable<Text>>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    council_sessions (id) {
        id -> Uuid,
        organization_id -> Uuid,
        year -> Int4,
        held_on -> Date,
        members_total -> Int4,
        members_present -> Int4,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    deadline_tallies (ancestor_path, campaign_id, year, deadline, kind, status, result) {
        ancestor_path -> Text,
        campaign_id -> Uuid,
        year -> Int4,
        deadline -> Date,
        kind -> Text,
        status -> Text,
        result -> Text,
        count -> Int8,
    }
}

diesel::table! {
    facet_deadline_tallies (ancestor_path, facet, campaign_id, year, deadline, value) {
        ancestor_path -> Text,
        campaign_id -> Uuid,
        year -> Int4,
        facet -> Text,
        deadline -> Date,
        value -> Text,
        count -> Int8,
    }
}

diesel::table! {
    facet_tallies (ancestor_path, entity, facet, campaign_id, year, value, status, result) {
        ancestor_path -> Text,
        entity -> Text,
        campaign_id -> Uuid,
        year -> Int4,
        facet -> Text,
        value -> Text,
        status -> Text,
        result -> Text,
        count -> Int8,
    }
}

diesel::table! {
    idempotency_keys (principal_id, key) {
        principal_id -> Uuid,
        key -> Text,
        request_digest -> Bytea,
        status -> Nullable<Int2>,
        location -> Nullable<Text>,
        etag -> Nullable<Text>,
        body -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    login_throttle (account_key) {
        account_key -> Text,
        failures -> Int4,
        window_start -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    memberships (user_id, organization_id) {
        user_id -> Uuid,
        organization_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    nomination_reviews (id) {
        id -> Uuid,
        nomination_id -> Uuid,
        reviewer_id -> Uuid,
        decision -> Text,
        comment -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    nominations (id) {
        id -> Uuid,
        campaign_id -> Uuid,
        nominating_organization_id -> Uuid,
        organization_path -> Text,
        root_organization_id -> Uuid,
        year -> Int4,
        nominee_type -> Text,
        nominee_name -> Text,
        nominee_key -> Nullable<Text>,
        nominee_organization_id -> Nullable<Uuid>,
        nominee_position -> Nullable<Text>,
        member_count -> Nullable<Int4>,
        field -> Text,
        achievements -> Nullable<Text>,
        evidence_urls -> Array<Nullable<Text>>,
        status -> Text,
        status_reason -> Nullable<Text>,
        commendation_form -> Nullable<Text>,
        issuer_organization_id -> Nullable<Uuid>,
        decision_no -> Nullable<Text>,
        decided_on -> Nullable<Date>,
        search_text -> Nullable<Text>,
        submitted_at -> Nullable<Timestamptz>,
        review_started_at -> Nullable<Timestamptz>,
        recognized_at -> Nullable<Timestamptz>,
        commended_at -> Nullable<Timestamptz>,
        created_by -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int4,
        submitted_by -> Nullable<Uuid>,
        award_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    organization_links (predecessor_id, successor_id, restructuring_id) {
        predecessor_id -> Uuid,
        successor_id -> Uuid,
        restructuring_id -> Uuid,
        effective_on -> Date,
        change -> Text,
        share -> Text,
    }
}

diesel::table! {
    organization_placements (organization_id, ended_on) {
        organization_id -> Uuid,
        parent_id -> Nullable<Uuid>,
        path -> Text,
        depth -> Int4,
        placed_on -> Nullable<Date>,
        ended_on -> Date,
        restructuring_id -> Uuid,
    }
}

diesel::table! {
    organizations (id) {
        id -> Uuid,
        seq -> Int8,
        parent_id -> Nullable<Uuid>,
        kind -> Text,
        name -> Text,
        code -> Nullable<Text>,
        active -> Bool,
        path -> Text,
        depth -> Int4,
        search_text -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deactivated_at -> Nullable<Timestamptz>,
        version -> Int4,
        name_key -> Nullable<Text>,
        valid_from -> Nullable<Date>,
        valid_to -> Nullable<Date>,
        placed_on -> Nullable<Date>,
    }
}

diesel::table! {
    persons (id) {
        id -> Uuid,
        organization_id -> Uuid,
        full_name -> Text,
        position -> Nullable<Text>,
        gender -> Nullable<Text>,
        search_text -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int4,
        organization_path -> Text,
    }
}

diesel::table! {
    pledge_progress (id) {
        id -> Uuid,
        pledge_id -> Uuid,
        root_organization_id -> Uuid,
        reported_on -> Date,
        percent -> Nullable<Float8>,
        value -> Nullable<Float8>,
        note -> Nullable<Text>,
        evidence_urls -> Array<Nullable<Text>>,
        reported_by -> Uuid,
        reporter_kind -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    pledges (id) {
        id -> Uuid,
        campaign_id -> Uuid,
        organization_id -> Uuid,
        organization_path -> Text,
        root_organization_id -> Uuid,
        year -> Int4,
        kind -> Text,
        field -> Text,
        title -> Text,
        description -> Nullable<Text>,
        target_value -> Nullable<Float8>,
        target_unit -> Nullable<Text>,
        title_name -> Nullable<Text>,
        deadline -> Date,
        exemplar_id -> Nullable<Uuid>,
        exemplar_relation -> Nullable<Text>,
        status -> Text,
        result -> Nullable<Text>,
        assessment_note -> Nullable<Text>,
        status_reason -> Nullable<Text>,
        submitted_at -> Nullable<Timestamptz>,
        approved_at -> Nullable<Timestamptz>,
        approved_by -> Nullable<Uuid>,
        assessed_at -> Nullable<Timestamptz>,
        progress_percent -> Nullable<Float8>,
        current_value -> Nullable<Float8>,
        last_reported_on -> Nullable<Date>,
        search_text -> Nullable<Text>,
        created_by -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int4,
        submitted_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        token_hash -> Bytea,
        family_id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    restructurings (id) {
        id -> Uuid,
        effective_on -> Date,
        legal_basis -> Text,
        steps -> Jsonb,
        preview -> Jsonb,
        touched_paths -> Array<Nullable<Text>>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    rule_sets (id) {
        id -> Uuid,
        code -> Text,
        version -> Int4,
        name -> Text,
        legal_basis -> Array<Nullable<Text>>,
        effective_from -> Date,
        effective_to -> Nullable<Date>,
        titles -> Jsonb,
        notes -> Nullable<Text>,
        current -> Bool,
        supersedes -> Nullable<Uuid>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    subtree_sums (ancestor_path, campaign_id, year, entity) {
        ancestor_path -> Text,
        campaign_id -> Uuid,
        year -> Int4,
        entity -> Text,
        total -> Int8,
        registered -> Int8,
        assessed -> Int8,
        achieved -> Int8,
        exemplars -> Int8,
        overdue -> Int8,
    }
}

diesel::table! {
    tallies (ancestor_path, entity, campaign_id, year, kind, status, result) {
        ancestor_path -> Text,
        entity -> Text,
        campaign_id -> Uuid,
        year -> Int4,
        kind -> Text,
        status -> Text,
        result -> Text,
        count -> Int8,
    }
}

diesel::table! {
    tally_deltas (id) {
        id -> Int8,
        organization_path -> Text,
        entity -> Text,
        campaign_id -> Uuid,
        year -> Int4,
        kind -> Text,
        status -> Text,
        result -> Text,
        open_deadline -> Date,
        delta -> Int8,
        field -> Nullable<Text>,
        holder_kind -> Nullable<Text>,
        month -> Nullable<Text>,
        title_name -> Nullable<Text>,
        organization_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    tally_state (singleton) {
        singleton -> Bool,
        collapsed_before -> Date,
        generation -> Int8,
    }
}

diesel::table! {
    title_registrations (id) {
        id -> Uuid,
        person_id -> Nullable<Uuid>,
        organization_id -> Nullable<Uuid>,
        subject_id -> Nullable<Uuid>,
        title_code -> Text,
        year -> Int4,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        organization_path -> Text,
    }
}

diesel::table! {
    token_revocations (subject_id) {
        subject_id -> Uuid,
        kind -> Text,
        not_before -> Timestamptz,
        changed_at -> Timestamptz,
    }
}

diesel::table! {
    unit_tallies (organization_id, campaign_id, year) {
        organization_id -> Uuid,
        campaign_id -> Uuid,
        year -> Int4,
        registered -> Int8,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        disabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int4,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Int8,
        delivery_id -> Int8,
        attempted_at -> Timestamptz,
        duration_ms -> Int4,
        status_code -> Nullable<Int4>,
        outcome -> Text,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Int8,
        webhook_id -> Uuid,
        seq -> Int8,
        event_type -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        created_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Uuid,
        url -> Text,
        events -> Array<Nullable<Text>>,
        secret -> Text,
        owner_client_id -> Nullable<Uuid>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        version -> Int4,
        status -> Text,
        disabled_at -> Nullable<Timestamptz>,
        disabled_reason -> Nullable<Text>,
        feed_cursor -> Int8,
        lease_token -> Nullable<Uuid>,
        lease_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    year_records (subject_id, year) {
        person_id -> Nullable<Uuid>,
        organization_id -> Nullable<Uuid>,
        subject_id -> Uuid,
        year -> Int4,
        completion_rating -> Nullable<Text>,
        initiative -> Nullable<Text>,
        discipline -> Text,
        updated_by -> Nullable<Uuid>,
        updated_at -> Timestamptz,
        version -> Int4,
    }
}

diesel::joinable!(award_decisions -> council_sessions (council_session_id));
diesel::joinable!(award_decisions -> organizations (issuer_organization_id));
diesel::joinable!(award_decisions -> rule_sets (rule_set_id));
diesel::joinable!(award_decisions -> users (created_by));
diesel::joinable!(awards -> award_decisions (decision_id));
diesel::joinable!(awards -> persons (person_id));
diesel::joinable!(awards -> rule_sets (rule_set_id));
diesel::joinable!(ballots -> council_sessions (session_id));
diesel::joinable!(ballots -> organizations (organization_id));
diesel::joinable!(ballots -> persons (person_id));
diesel::joinable!(ballots -> users (created_by));
diesel::joinable!(base_salaries -> users (created_by));
diesel::joinable!(campaigns -> organizations (owner_organization_id));
diesel::joinable!(clients -> organizations (organization_id));
diesel::joinable!(clients -> users (created_by));
diesel::joinable!(council_sessions -> organizations (organization_id));
diesel::joinable!(council_sessions -> users (created_by));
diesel::joinable!(memberships -> organizations (organization_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(nomination_reviews -> nominations (nomination_id));
diesel::joinable!(nominations -> awards (award_id));
diesel::joinable!(nominations -> campaigns (campaign_id));
diesel::joinable!(organization_links -> restructurings (restructuring_id));
diesel::joinable!(organization_placements -> restructurings (restructuring_id));
diesel::joinable!(persons -> organizations (organization_id));
diesel::joinable!(persons -> users (created_by));
diesel::joinable!(pledge_progress -> pledges (pledge_id));
diesel::joinable!(pledges -> campaigns (campaign_id));
diesel::joinable!(pledges -> nominations (exemplar_id));
diesel::joinable!(pledges -> organizations (organization_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(restructurings -> users (created_by));
diesel::joinable!(rule_sets -> users (created_by));
diesel::joinable!(title_registrations -> organizations (organization_id));
diesel::joinable!(title_registrations -> persons (person_id));
diesel::joinable!(title_registrations -> users (created_by));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhooks -> clients (owner_client_id));
diesel::joinable!(year_records -> organizations (organization_id));
diesel::joinable!(year_records -> persons (person_id));
diesel::joinable!(year_records -> users (updated_by));

diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    award_decisions,
    award_tallies,
    awards,
    ballots,
    base_salaries,
    campaigns,
    change_events,
    change_feed_state,
    clients,
    council_sessions,
    deadline_tallies,
    facet_deadline_tallies,
    facet_tallies,
    idempotency_keys,
    login_throttle,
    memberships,
    nomination_reviews,
    nominations,
    organization_links,
    organization_placements,
    organizations,
    persons,
    pledge_progress,
    pledges,
    refresh_tokens,
    restructurings,
    rule_sets,
    subtree_sums,
    tallies,
    tally_deltas,
    tally_state,
    title_registrations,
    token_revocations,
    unit_tallies,
    users,
    webhook_attempts,
    webhook_deliveries,
    webhooks,
    year_records,
);
