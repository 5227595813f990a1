// @generated automatically by Diesel CLI.

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

diesel::joinable!(campaigns -> organizations (owner_organization_id));
diesel::joinable!(clients -> organizations (organization_id));
diesel::joinable!(clients -> users (created_by));
diesel::joinable!(memberships -> organizations (organization_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(refresh_tokens -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    campaigns,
    clients,
    login_throttle,
    memberships,
    organizations,
    refresh_tokens,
    users,
);
