//! The HTTP handlers every workflow resource has, stamped out per resource: `utoipa` wants the
//! paths, types and wording of each operation as literals, so a workflow's handlers module
//! invokes these macros with its own and writes only what is particular to it (sub-collections,
//! custom reads).
//!
//! - [`resource_handlers!`]: create, read, list (JSON or an export by `Accept`), the CSV and
//!   XLSX exports, the merge patch and the deletion of a draft.
//! - [`appended_handler!`]: `POST /…/{id}/<collection>`, a record appended to a row.
//! - [`transition_handlers!`]: one `POST /…/{id}/<action>` per action of the state table, each
//!   a call of [`Act::run`](super::Act::run) or [`Act::run_with`](super::Act::run_with).
//!
//! The macros expand to items that name `Uuid`, `Problem`, `web`, `HttpRequest`, `HttpResponse`,
//! the route attributes (`get`, `post`, `patch`, `delete`: `utoipa` finds the method by their bare
//! name) and the resource's types at the invocation site, which imports them as ordinary
//! handlers do.

/// `$given` when there is one, `$default` otherwise (for a wording most resources share).
macro_rules! given_or {
    (; $default:expr) => {
        $default
    };
    ($given:literal; $default:expr) => {
        $given
    };
}
pub(crate) use given_or;

/// The create, read, list, export, update and delete handlers of a workflow resource.
///
/// The list filter is a [`crate::listing::Filter`]; the export's query is
/// [`crate::listing::Query`] of it.
macro_rules! resource_handlers {
    (
        $workflow:ident, $dto:ident, $export:ident, tag $tag:literal, one $one:literal,
            id $id_doc:literal, routes $list_route:literal, $item_route:literal, $csv_route:literal,
            $xlsx_route:literal,
        links [$get_link:literal, $update_link:literal, $delete_link:literal,
            $submit_link:literal $submit:ident, $withdraw_link:literal $withdraw:ident,
            $below_link:literal $below:ident];

        $(#[$create_doc:meta])*
        create $create:ident($new:ident) $created:literal, location $location:literal,
            conflict $create_conflict:literal;

        $(#[$get_doc:meta])*
        get $get:ident $(not found $get_not_found:literal)?;

        $(#[$list_doc:meta])*
        list $list:ident($filter:ident) $page:ident, csv $csv:ident $csv_file:literal,
            xlsx $xlsx:ident $xlsx_file:literal;

        $(#[$update_doc:meta])*
        update $update:ident($patch:ident) conflict $update_conflict:literal, delete $delete:ident;
    ) => {
        $(#[$create_doc])*
        #[utoipa::path(
            tag = $tag,
            request_body = $new,
            params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the first response is replayed")),
            security(("bearer" = [])),
            responses(
                (status = 201, description = $created, body = $dto,
                    headers(("Location" = String, description = $location), ("ETag" = String, description = "Entity tag")),
                    links(
                        ($get_link = (operation_id = stringify!($get), parameters(("path.id" = "$response.body#/id")))),
                        ($update_link = (operation_id = stringify!($update), parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                        ($delete_link = (operation_id = stringify!($delete), parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                        ($submit_link = (operation_id = stringify!($submit), parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                        ($withdraw_link = (operation_id = stringify!($withdraw), parameters(("path.id" = "$response.body#/id")))),
                        ($below_link = (operation_id = stringify!($below), parameters(("path.id" = "$response.body#/id")))),
                    )),
                (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = $create_conflict, body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Invalid members, or the Idempotency-Key was used for another request", body = Problem, content_type = "application/problem+json"),
            )
        )]
        #[post($list_route)]
        pub async fn $create(
            state: web::Data<crate::state::AppState>,
            principal: crate::auth::principal::Principal,
            key: crate::idempotency::IdempotencyKey,
            body: crate::extract::Body<$new>,
        ) -> crate::error::AppResult<HttpResponse> {
            let (request, digest) = body.into_parts();
            let idempotency = crate::idempotency::Idempotency::new(&principal, key, digest);
            crate::workflow::create::<$workflow>(&state.db, &principal, idempotency, request).await
        }

        $(#[$get_doc])*
        #[utoipa::path(
            tag = $tag,
            params(("id" = Uuid, Path, description = $id_doc)),
            security(("bearer" = [])),
            responses(
                (status = 200, description = concat!("The ", $one), body = $dto, headers(("ETag" = String, description = "Entity tag"))),
                (status = 304, description = "Not modified since the ETag in `If-None-Match`"),
                (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = crate::workflow::handlers::given_or!($($get_not_found)?; concat!("No such ", $one, " in your subtree")), body = Problem, content_type = "application/problem+json"),
            )
        )]
        #[get($item_route)]
        pub async fn $get(
            state: web::Data<crate::state::AppState>,
            principal: crate::auth::principal::Principal,
            id: web::Path<Uuid>,
            req: HttpRequest,
        ) -> crate::error::AppResult<HttpResponse> {
            crate::workflow::read::<$workflow>(&state.db, &principal, *id, &req).await
        }

        $(#[$list_doc])*
        #[utoipa::path(
            tag = $tag,
            params($filter),
            security(("bearer" = [])),
            responses(
                // Only JSON is listed (the export media types still answer): generated clients
                // type the page, and the exports have their own operations.
                (status = 200, description = concat!("A page of ", $tag), body = $page),
                (status = 400, description = "Bad filter, sort or limit, or `export_too_large` (an XLSX of more than 200 000 rows)", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
                (status = 503, description = "Every spreadsheet export slot of the instance stayed busy for 30 s (XLSX only); retry after `Retry-After`", body = Problem, content_type = "application/problem+json",
                    headers(("Retry-After" = String, description = "Seconds to wait"))),
            )
        )]
        #[get($list_route)]
        pub async fn $list(
            state: web::Data<crate::state::AppState>,
            principal: crate::auth::principal::Principal,
            filter: web::Query<$filter>,
            req: HttpRequest,
        ) -> crate::error::AppResult<HttpResponse> {
            let query =
                crate::listing::Query::parse(&state.db, &principal, filter.into_inner()).await?;
            crate::listing::respond::<$export>(&state, query, &req).await
        }

        crate::workflow::handlers::resource_handlers!(@export [
        #[doc = concat!("Exports the ", $tag, " of the list as CSV: every page of the selection `GET ", $list_route, "` would list")]
        #[doc = "with the same parameters, streamed, UTF-8 with a BOM so Excel shows Vietnamese correctly."]
        #[doc = ""]
        #[doc = "A failure after the first rows breaks the download (never a short file)."]
        #[utoipa::path(
            tag = $tag,
            summary = concat!("Exports the ", $tag, " of the list as CSV: every page of the selection `GET ", $list_route, "` would list\n",
                "with the same parameters, streamed, UTF-8 with a BOM so Excel shows Vietnamese correctly."),
            description = "A failure after the first rows breaks the download (never a short file).",
            params($filter),
            security(("bearer" = [])),
            responses(
                (status = 200, description = concat!("The ", $tag, " as CSV"), body = String, content_type = "text/csv",
                    headers(("Content-Disposition" = String, description = $csv_file))),
                (status = 400, description = "Bad filter or sort", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
            )
        )]
        #[get($csv_route)]
        ] $csv, $filter, $export, Csv);

        crate::workflow::handlers::resource_handlers!(@export [
        #[doc = concat!("Exports the ", $tag, " of the list as an XLSX workbook: every row `GET ", $list_route, "` would list with")]
        #[doc = "the same parameters, typed (numbers, dates, booleans), with a named sheet and a bold,"]
        #[doc = "frozen, filtered header row."]
        #[utoipa::path(
            tag = $tag,
            summary = concat!("Exports the ", $tag, " of the list as an XLSX workbook: every row `GET ", $list_route, "` would list with\n",
                "the same parameters, typed (numbers, dates, booleans), with a named sheet and a bold,\n",
                "frozen, filtered header row."),
            params($filter),
            security(("bearer" = [])),
            responses(
                (status = 200, description = concat!("The ", $tag, " as a workbook"), body = String, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers(("Content-Disposition" = String, description = $xlsx_file))),
                (status = 400, description = "Bad filter or sort, or `export_too_large` (more than 200 000 rows: narrow the filters or export CSV)", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "`organization_id` is outside your subtree", body = Problem, content_type = "application/problem+json"),
                (status = 503, description = "Every spreadsheet export slot of the instance stayed busy for 30 s; retry after `Retry-After`", body = Problem, content_type = "application/problem+json",
                    headers(("Retry-After" = String, description = "Seconds to wait"))),
            )
        )]
        #[get($xlsx_route)]
        ] $xlsx, $filter, $export, Xlsx);

        $(#[$update_doc])*
        #[utoipa::path(
            tag = $tag,
            request_body(content = $patch, content_type = "application/merge-patch+json", description = "Members to change; `null` clears"),
            params(
                ("id" = Uuid, Path, description = $id_doc),
                ("If-Match" = Option<String>, Header, description = "ETag the change is based on"),
            ),
            security(("bearer" = [])),
            responses(
                (status = 200, description = "Updated", body = $dto, headers(("ETag" = String, description = "New entity tag"))),
                (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = concat!("No such ", $one, " in your subtree"), body = Problem, content_type = "application/problem+json"),
                (status = 409, description = $update_conflict, body = Problem, content_type = "application/problem+json"),
                (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Invalid, unknown or server-owned members", body = Problem, content_type = "application/problem+json"),
            )
        )]
        #[patch($item_route)]
        pub async fn $update(
            state: web::Data<crate::state::AppState>,
            principal: crate::auth::principal::Principal,
            id: web::Path<Uuid>,
            if_match: crate::conditional::IfMatch,
            body: crate::extract::Body<$patch>,
        ) -> crate::error::AppResult<HttpResponse> {
            let (version, dto) = crate::workflow::update::<$workflow>(
                &state.db,
                &principal,
                *id,
                &if_match,
                body.into_inner(),
            )
            .await?;
            Ok(crate::conditional::updated(version, &dto))
        }

        #[doc = concat!("Deletes a draft ", $one, ".")]
        #[utoipa::path(
            tag = $tag,
            summary = concat!("Deletes a draft ", $one, "."),
            params(
                ("id" = Uuid, Path, description = $id_doc),
                ("If-Match" = Option<String>, Header, description = "ETag the deletion is based on"),
            ),
            security(("bearer" = [])),
            responses(
                (status = 204, description = "Deleted"),
                (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not a manager of the unit", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = concat!("No such ", $one, " in your subtree"), body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "Not a draft (withdraw it instead)", body = Problem, content_type = "application/problem+json"),
                (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
            )
        )]
        #[delete($item_route)]
        pub async fn $delete(
            state: web::Data<crate::state::AppState>,
            principal: crate::auth::principal::Principal,
            id: web::Path<Uuid>,
            if_match: crate::conditional::IfMatch,
        ) -> crate::error::AppResult<HttpResponse> {
            crate::workflow::delete::<$workflow>(&state.db, &principal, *id, &if_match).await?;
            Ok(HttpResponse::NoContent().finish())
        }
    };
    (@export [$($attr:tt)*] $name:ident, $filter:ident, $export:ident, $format:ident) => {
        $($attr)*
        pub async fn $name(
            state: web::Data<crate::state::AppState>,
            principal: crate::auth::principal::Principal,
            filter: web::Query<$filter>,
        ) -> crate::error::AppResult<HttpResponse> {
            let query =
                crate::listing::Query::parse(&state.db, &principal, filter.into_inner()).await?;
            let format = crate::export::Format::$format;
            crate::export::respond::<$export>(state.db.clone(), &state.exports, query, format).await
        }
    };
}
pub(crate) use resource_handlers;

/// One `POST /…/{id}/<action>` handler per action of a workflow's state table.
///
/// An action without a body runs with `$input::None`; one `with` a body runs with the input
/// its closure makes of the body. `conflict` replaces the usual 409 wording, `invalid` adds the
/// 422 of a body.
macro_rules! transition_handlers {
    (
        workflow: $workflow:ident, action: $action_type:ident, input: $input:ident,
        dto: $dto:ident, tag: $tag:literal, one: $one:literal, id: $id_doc:literal;
        $(
            $(#[$doc:meta])*
            $name:ident: $action:ident at $route:literal $(with $body:ident => $make:expr)?,
                ok $ok:literal $([$($link:literal $op:ident),*])?, forbidden $forbidden:literal
                $(, conflict $conflict:literal)? $(, invalid $invalid:literal)?;
        )+
    ) => {
        $(
            crate::workflow::handlers::transition_handlers!(@fn [
            $(#[$doc])*
            #[utoipa::path(
                tag = $tag,
                $(request_body = $body,)?
                params(
                    ("id" = Uuid, Path, description = $id_doc),
                    ("If-Match" = Option<String>, Header, description = "ETag the action is based on"),
                    ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
                ),
                security(("bearer" = [])),
                responses(
                    (status = 200, description = $ok, body = $dto
                        $(, links($(($link = (operation_id = stringify!($op), parameters(("path.id" = "$response.body#/id")))),)*))?),
                    (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = $forbidden, body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = concat!("No such ", $one, " in your subtree"), body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = crate::workflow::handlers::given_or!($($conflict)?; "`invalid_transition`: the state does not allow it"), body = Problem, content_type = "application/problem+json"),
                    (status = 412, description = "The ETag does not match", body = Problem, content_type = "application/problem+json"),
                    $((status = 422, description = $invalid, body = Problem, content_type = "application/problem+json"),)?
                )
            )]
            #[post($route)]
            ] $name, $workflow, $action_type::$action, $input $(, $body => $make)?);
        )+
    };
    (@fn [$($attr:tt)*] $name:ident, $workflow:ident, $action:path, $input:ident) => {
        $($attr)*
        pub async fn $name(
            state: web::Data<crate::state::AppState>,
            act: crate::workflow::Act,
        ) -> crate::error::AppResult<HttpResponse> {
            act.run::<$workflow>(&state.db, $action, $input::None).await
        }
    };
    (@fn [$($attr:tt)*] $name:ident, $workflow:ident, $action:path, $input:ident, $body:ident => $make:expr) => {
        $($attr)*
        pub async fn $name(
            state: web::Data<crate::state::AppState>,
            act: crate::workflow::Act,
            body: crate::extract::Body<$body>,
        ) -> crate::error::AppResult<HttpResponse> {
            act.run_with::<$workflow, _>(&state.db, body, $action, $make).await
        }
    };
}
pub(crate) use transition_handlers;

/// The `POST /…/{id}/<collection>` handler that appends a record ([`super::Appended`]) to a row.
macro_rules! appended_handler {
    (
        $(#[$doc:meta])*
        $name:ident($route:literal, $new:ident) $dto:ident, tag $tag:literal, id $id_doc:literal,
            location $location:literal, links [$($link:literal $op:ident),+] on $on:literal,
            forbidden $forbidden:literal, not found $not_found:literal, conflict $conflict:literal;
    ) => {
        $(#[$doc])*
        #[utoipa::path(
            tag = $tag,
            request_body = $new,
            params(
                ("id" = Uuid, Path, description = $id_doc),
                ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
            ),
            security(("bearer" = [])),
            responses(
                (status = 201, description = "Recorded", body = $dto, headers(("Location" = String, description = $location)),
                    links($(($link = (operation_id = stringify!($op), parameters(("path.id" = $on)))),)+)),
                (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = $forbidden, body = Problem, content_type = "application/problem+json"),
                (status = 404, description = $not_found, body = Problem, content_type = "application/problem+json"),
                (status = 409, description = $conflict, body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Invalid members", body = Problem, content_type = "application/problem+json"),
            )
        )]
        #[post($route)]
        pub async fn $name(
            state: web::Data<crate::state::AppState>,
            principal: crate::auth::principal::Principal,
            id: web::Path<Uuid>,
            key: crate::idempotency::IdempotencyKey,
            body: crate::extract::Body<$new>,
        ) -> crate::error::AppResult<HttpResponse> {
            crate::workflow::append::<$new>(&state.db, &principal, *id, key, body).await
        }
    };
}
pub(crate) use appended_handler;
