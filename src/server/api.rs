//! The HTTP API of `CONTRACT.md`: ingestion, the read endpoints, health, and the OpenAPI
//! document generated from these handlers' own types.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::OpenApi;

use super::error::ApiError;
use super::ingest::{self, DecodeError, FieldError, Framing, IngestOutcome};
use super::state::AppState;
use super::{analytics, auth, events_query};
use crate::model::customers::{CustomerProfile, Customers};
use crate::model::events::{Cursor, EventFilter, EventsPage, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::model::incidents::Patterns;
use crate::model::infra::Infra;
use crate::model::pulse::Pulse;
use crate::model::replay::Comparison;
use crate::model::revenue::Revenue;
use crate::model::stickiness::Funnel;
use crate::model::{Event, EventType};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/ops/events", post(ingest_events).get(list_events))
        .route("/api/v1/ops/pulse", get(get_pulse))
        .route("/api/v1/ops/infra", get(get_infra))
        .route("/api/v1/ops/customers", get(get_customers))
        .route("/api/v1/ops/customers/{tenant_id}", get(get_customer))
        .route("/api/v1/ops/stickiness", get(get_stickiness))
        .route("/api/v1/ops/revenue", get(get_revenue))
        .route("/api/v1/ops/revenue.csv", get(get_revenue_csv))
        .route("/api/v1/ops/incidents/patterns", get(get_incident_patterns))
        .route("/api/v1/ops/replays", post(post_replay))
        .route("/api/v1/ops/replays/export", get(export_replay))
        .route("/api/v1/ops/stream", get(stream))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Ops Console API", description = "Ingestion and read API of Ops Console."),
    paths(ingest_events, list_events, get_pulse, get_infra, get_customers, get_customer, get_stickiness, get_revenue, get_revenue_csv, get_incident_patterns, post_replay, export_replay, stream, healthz, readyz),
    components(schemas(Event, EventType, IngestOutcome, FieldError, ValidationErrors, ErrorBody, EventsResponse, Pulse, Infra, Customers, CustomerProfile, Funnel, Revenue, Patterns, ReplayRequest, Comparison)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3 document of this API.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}

#[derive(Serialize, utoipa::ToSchema)]
struct ErrorBody {
    error: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ValidationErrors {
    errors: Vec<FieldError>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "the process is up")))]
async fn healthz() -> &'static str {
    "ok"
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "the database answers"),
    (status = 503, description = "the database is unavailable", body = ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&state.auth).await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => ApiError::Unavailable(e).into_response(),
    }
}

/// Store events: one object, a JSON array, or NDJSON. All or nothing; idempotent on `event_id`.
#[utoipa::path(post, path = "/api/v1/ops/events",
    request_body(content = Vec<Event>, description = "an event, an array of events (application/json) or one event per line (application/x-ndjson)"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "stored (durably committed)", body = IngestOutcome),
        (status = 400, description = "the body is not valid JSON / NDJSON", body = ErrorBody),
        (status = 401, description = "missing or unknown ingest key", body = ErrorBody),
        (status = 413, description = "more than 10,000 events or 10 MiB", body = ErrorBody),
        (status = 422, description = "invalid events; nothing stored", body = ValidationErrors),
        (status = 503, description = "the database is unavailable; nothing stored; retry", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(events))]
async fn ingest_events(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    if !auth::bearer_matches(&headers, &state.config.ingest_keys) {
        return ApiError::Unauthorized.into_response();
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let Some(framing) = Framing::from_content_type(content_type) else {
        return ApiError::UnsupportedMediaType(
            "send application/json or application/x-ndjson".into(),
        )
        .into_response();
    };
    let bytes = match axum::body::to_bytes(body, ingest::MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::PayloadTooLarge(format!(
                "the body is larger than {} bytes",
                ingest::MAX_BODY_BYTES
            ))
            .into_response()
        }
    };
    let values = match ingest::decode(framing, &bytes) {
        Ok(values) => values,
        Err(DecodeError::Malformed(message)) => {
            return ApiError::BadRequest(message).into_response()
        }
        Err(DecodeError::TooMany(n)) => {
            return ApiError::PayloadTooLarge(format!(
                "{n} events in one request; at most {} are accepted",
                ingest::MAX_EVENTS
            ))
            .into_response()
        }
    };
    tracing::Span::current().record("events", values.len());
    let events = match ingest::validate_all(values, Utc::now()) {
        Ok(events) => events,
        Err(errors) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(ValidationErrors { errors }),
            )
                .into_response()
        }
    };
    match ingest::store(&state.intake, &events).await {
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct EventsResponse {
    events: Vec<Event>,
    next_cursor: Option<String>,
}

impl From<EventsPage> for EventsResponse {
    fn from(page: EventsPage) -> Self {
        EventsResponse {
            events: page.events,
            next_cursor: page.next_cursor,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ListParams {
    tenant_id: Option<String>,
    event_type: Option<String>,
    /// RFC 3339
    from: Option<String>,
    /// RFC 3339
    to: Option<String>,
    /// RFC 3339: the stream as it stood at that moment
    as_of: Option<String>,
    /// at most 1000, default 50
    limit: Option<String>,
    cursor: Option<String>,
}

/// Turns query parameters into a filter, naming the first bad one.
pub fn parse_filter(
    params: &HashMap<String, String>,
) -> Result<(EventFilter, Option<Cursor>, i64), ApiError> {
    let known = [
        "tenant_id",
        "event_type",
        "from",
        "to",
        "as_of",
        "limit",
        "cursor",
    ];
    if let Some(unknown) = params.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "unknown parameter {unknown:?}"
        )));
    }
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let bad = |name: &str, why: &str| ApiError::BadRequest(format!("parameter {name}: {why}"));
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        get(name)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| bad(name, "must be an RFC 3339 time"))
            })
            .transpose()
    };
    let tenant_id = get("tenant_id")
        .map(|v| v.parse().map_err(|_| bad("tenant_id", "must be a UUID")))
        .transpose()?;
    let event_type = get("event_type")
        .map(|v| {
            v.parse::<EventType>()
                .map_err(|_| bad("event_type", "must be one of the 15 canonical event types"))
        })
        .transpose()?;
    let from = time("from")?;
    let to = match (time("to")?, time("as_of")?) {
        (Some(to), Some(as_of)) => Some(to.min(as_of)),
        (to, as_of) => to.or(as_of),
    };
    let limit = match get("limit") {
        None => DEFAULT_PAGE_SIZE,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => return Err(bad("limit", "must be an integer from 1 to 1000")),
        },
    };
    let cursor = get("cursor")
        .map(|v| {
            Cursor::decode(v).ok_or_else(|| bad("cursor", "is not a cursor this API handed out"))
        })
        .transpose()?;
    Ok((
        EventFilter {
            tenant_id,
            event_type,
            from,
            to,
        },
        cursor,
        limit,
    ))
}

/// The stream, newest first, filtered, with cursor paging.
#[utoipa::path(get, path = "/api/v1/ops/events", params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "a page of events, newest first", body = EventsResponse),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no session and no valid API token", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody)))]
async fn list_events(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<EventsResponse>, ApiError> {
    let (filter, cursor, limit) = parse_filter(&params)?;
    let page = events_query::page(&state.pool, &filter, cursor, limit).await?;
    Ok(Json(page.into()))
}

/// The moment an answer is for: `as_of` when given (a past moment), else now. Any other
/// parameter is refused by name.
pub fn parse_as_of(params: &HashMap<String, String>) -> Result<DateTime<Utc>, ApiError> {
    Ok(requested_as_of(params)?.unwrap_or_else(Utc::now))
}

/// The `as_of` a request names (`None`: now), and no other parameter.
pub fn requested_as_of(
    params: &HashMap<String, String>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    if let Some(unknown) = params.keys().find(|k| k.as_str() != "as_of") {
        return Err(ApiError::BadRequest(format!(
            "unknown parameter {unknown:?}"
        )));
    }
    match params
        .get("as_of")
        .map(String::as_str)
        .filter(|v| !v.is_empty())
    {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc).min(Utc::now())))
            .map_err(|_| ApiError::BadRequest("parameter as_of: must be an RFC 3339 time".into())),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct AsOfParams {
    /// RFC 3339: the answer as the console would have given it at that moment
    as_of: Option<String>,
}

/// System Pulse: the last 24 hours against the 24 hours before, and the derived state.
#[utoipa::path(get, path = "/api/v1/ops/pulse", params(AsOfParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the pulse", body = Pulse),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no session and no valid API token", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody)))]
async fn get_pulse(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Pulse>, ApiError> {
    let as_of = requested_as_of(&params)?;
    let thresholds = super::alerts::thresholds(&state.pool).await?;
    Ok(Json(analytics::pulse(&state, as_of, &thresholds).await?))
}

/// Infra & Limits: each resource's use, growth, projected exhaustion and peak.
#[utoipa::path(get, path = "/api/v1/ops/infra", params(AsOfParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "every resource that reported samples in the last 7 days", body = Infra),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no session and no valid API token", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody)))]
async fn get_infra(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Infra>, ApiError> {
    let as_of = requested_as_of(&params)?;
    Ok(Json(analytics::infra(&state, as_of).await?))
}

/// Customer Intelligence: every tenant's intent, stickiness, silent churn and churn risk,
/// silent churners first.
#[utoipa::path(get, path = "/api/v1/ops/customers", params(AsOfParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "every tenant seen up to `as_of`", body = Customers),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no session and no valid API token", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody)))]
async fn get_customers(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Customers>, ApiError> {
    let as_of = requested_as_of(&params)?;
    Ok(Json(analytics::customers(&state, as_of).await?))
}

/// One tenant's profile: the list's fields plus subscription, evidence, time-to-value and the
/// 30-day activity timeline.
#[utoipa::path(get, path = "/api/v1/ops/customers/{tenant_id}",
    params(("tenant_id" = uuid::Uuid, Path, description = "the tenant"), AsOfParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the tenant's profile", body = CustomerProfile),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no session and no valid API token", body = ErrorBody),
        (status = 404, description = "no event of this tenant up to `as_of`", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody)))]
async fn get_customer(
    State(state): State<AppState>,
    axum::extract::Path(tenant_id): axum::extract::Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<CustomerProfile>, ApiError> {
    let tenant_id: uuid::Uuid = tenant_id
        .parse()
        .map_err(|_| ApiError::BadRequest("tenant_id: must be a UUID".into()))?;
    let as_of = parse_as_of(&params)?;
    super::customers::profile(&state.pool, tenant_id, as_of)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {tenant_id} up to {as_of}")))
}

/// A window from the address (`days`, `hours`): one of `allowed`, else `default` when absent.
fn parse_window(
    params: &mut HashMap<String, String>,
    key: &str,
    allowed: &[i32],
    default: i32,
) -> Result<i32, ApiError> {
    match params.remove(key) {
        None => Ok(default),
        Some(d) => d
            .parse::<i32>()
            .ok()
            .filter(|d| allowed.contains(d))
            .ok_or_else(|| {
                let list: Vec<String> = allowed.iter().map(i32::to_string).collect();
                ApiError::BadRequest(format!(
                    "parameter {key}: must be one of {}",
                    list.join(", ")
                ))
            }),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct WindowParams {
    /// RFC 3339: the answer as the console would have given it at that moment
    as_of: Option<String>,
    /// the window in days: 7, 30 (the default) or 90
    days: Option<i32>,
}

/// Product Stickiness: the five-step funnel over a window, with conversions, the spec's
/// drop-off reading, median times between steps and who is stuck where.
#[utoipa::path(get, path = "/api/v1/ops/stickiness", params(WindowParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the funnel", body = Funnel),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no session and no valid API token", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody)))]
async fn get_stickiness(
    State(state): State<AppState>,
    Query(mut params): Query<HashMap<String, String>>,
) -> Result<Json<Funnel>, ApiError> {
    use crate::model::stickiness::{DEFAULT_WINDOW, WINDOWS};
    let days = parse_window(&mut params, "days", &WINDOWS, DEFAULT_WINDOW)?;
    let as_of = requested_as_of(&params)?;
    Ok(Json(analytics::stickiness(&state, as_of, days).await?))
}

/// The window and moment of a revenue request.
fn revenue_params(
    mut params: HashMap<String, String>,
) -> Result<(Option<DateTime<Utc>>, i32), ApiError> {
    use crate::model::revenue::{DEFAULT_WINDOW, WINDOWS};
    let days = parse_window(&mut params, "days", &WINDOWS, DEFAULT_WINDOW)?;
    Ok((requested_as_of(&params)?, days))
}

/// Revenue & Risk: per-tenant unit economics over the window (lowest margin first), the four
/// risk flags with the numbers behind them, and the totals.
#[utoipa::path(get, path = "/api/v1/ops/revenue", params(WindowParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the table", body = Revenue),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no session and no valid API token", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody)))]
async fn get_revenue(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Revenue>, ApiError> {
    let (as_of, days) = revenue_params(params)?;
    Ok(Json(analytics::revenue(&state, as_of, days).await?))
}

/// The Revenue & Risk table as CSV (a download).
#[utoipa::path(get, path = "/api/v1/ops/revenue.csv", params(WindowParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "one row per tenant, lowest margin first", content_type = "text/csv"),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no session and no valid API token", body = ErrorBody)))]
async fn get_revenue_csv(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (as_of, days) = revenue_params(params)?;
    let revenue = analytics::revenue(&state, as_of, days).await?;
    let as_of = revenue.as_of;
    let body = super::revenue::to_csv(&revenue)
        .map_err(|e| ApiError::BadRequest(format!("cannot write the CSV: {e}")))?;
    let name = format!(
        "attachment; filename=\"revenue-{}-{days}d.csv\"",
        as_of.format("%Y%m%d-%H%M")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct PatternParams {
    /// RFC 3339: the answer as the console would have given it at that moment
    as_of: Option<String>,
    /// the window in hours: 1, 24 (the default) or 168
    hours: Option<i32>,
    /// only this tenant's incidents, and the regressions that affect it
    tenant_id: Option<uuid::Uuid>,
}

/// Incident Intelligence: incidents by model, by policy and by both, every incident's forced
/// attribution, regressions of policy versions against their predecessor, the spec's
/// day-over-day view and the latest incidents.
#[utoipa::path(get, path = "/api/v1/ops/incidents/patterns", params(PatternParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the patterns", body = Patterns),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 401, description = "no session and no valid API token", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody)))]
async fn get_incident_patterns(
    State(state): State<AppState>,
    Query(mut params): Query<HashMap<String, String>>,
) -> Result<Json<Patterns>, ApiError> {
    use crate::model::incidents::{DEFAULT_WINDOW, WINDOWS};
    let hours = parse_window(&mut params, "hours", &WINDOWS, DEFAULT_WINDOW)?;
    let tenant = match params.remove("tenant_id").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(
            t.parse::<uuid::Uuid>()
                .map_err(|_| ApiError::BadRequest("parameter tenant_id: must be a UUID".into()))?,
        ),
    };
    let as_of = requested_as_of(&params)?;
    Ok(Json(
        analytics::patterns(&state, as_of, hours, tenant).await?,
    ))
}

/// `POST /api/v1/ops/replays`: either override may be omitted (the original is kept).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    pub incident_id: uuid::Uuid,
    pub model: Option<String>,
    pub policy_version: Option<String>,
    /// Repeated runs of the replay configuration for the determinism verdict (1–10, default 3).
    pub runs: Option<usize>,
}

impl From<super::replay::ReplayError> for ApiError {
    fn from(e: super::replay::ReplayError) -> Self {
        use super::replay::ReplayError as E;
        match e {
            E::UnknownIncident(_) => ApiError::NotFound(e.to_string()),
            E::UnknownModel(..) | E::UnknownVersion { .. } | E::Runs => {
                ApiError::BadRequest(e.to_string())
            }
            E::Provider(p) => ApiError::BadGateway(p.to_string()),
            E::Db(db) => db.into(),
        }
    }
}

/// Replays an incident with another model or policy version: `original`, `replay` and `delta`.
/// Recorded as `REPLAY_EXECUTED` with `source = operator` (never customer behaviour).
#[utoipa::path(post, path = "/api/v1/ops/replays", request_body = ReplayRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the comparison", body = Comparison),
        (status = 400, description = "unknown model or version, or a bad body", body = ErrorBody),
        (status = 401, description = "no session and no valid API token", body = ErrorBody),
        (status = 404, description = "unknown incident", body = ErrorBody),
        (status = 502, description = "the model provider failed; nothing was recorded", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody)))]
async fn post_replay(
    State(state): State<AppState>,
    body: Result<Json<ReplayRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Comparison>, ApiError> {
    let Json(r) = body.map_err(|e| ApiError::BadRequest(format!("body: {}", e.body_text())))?;
    let c = super::replay::compare(
        &state.pool,
        &state.providers,
        r.incident_id,
        r.model.as_deref(),
        r.policy_version.as_deref(),
        r.runs.unwrap_or(3),
    )
    .await?;
    super::replay::record_replay(&state.pool, &c).await?;
    Ok(Json(c))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ExportParams {
    incident_id: uuid::Uuid,
    model: Option<String>,
    policy_version: Option<String>,
    /// `json` (the default) or `md`
    format: Option<String>,
}

/// Export Comparison: the replay as a JSON or Markdown download, recorded as
/// `EXPORT_GENERATED` with `source = operator`.
#[utoipa::path(get, path = "/api/v1/ops/replays/export", params(ExportParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the comparison as a file"),
        (status = 400, description = "a bad parameter, named", body = ErrorBody),
        (status = 404, description = "unknown incident", body = ErrorBody)))]
async fn export_replay(
    State(state): State<AppState>,
    Query(mut params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id: uuid::Uuid = params
        .remove("incident_id")
        .and_then(|i| i.parse().ok())
        .ok_or_else(|| ApiError::BadRequest("parameter incident_id: must be a UUID".into()))?;
    let model = params.remove("model");
    let version = params.remove("policy_version");
    let format = params.remove("format").unwrap_or_else(|| "json".into());
    if let Some(unknown) = params.keys().next() {
        return Err(ApiError::BadRequest(format!(
            "unknown parameter {unknown:?}"
        )));
    }
    let (body, mime, ext) = match format.as_str() {
        "json" | "md" => {
            let c = super::replay::compare(
                &state.pool,
                &state.providers,
                id,
                model.as_deref(),
                version.as_deref(),
                1,
            )
            .await?;
            super::replay::record_export(&state.pool, &c, &format).await?;
            if format == "md" {
                (
                    crate::model::replay::to_markdown(&c),
                    "text/markdown; charset=utf-8",
                    "md",
                )
            } else {
                (
                    serde_json::to_string_pretty(&c).unwrap_or_default(),
                    "application/json",
                    "json",
                )
            }
        }
        _ => {
            return Err(ApiError::BadRequest(
                "parameter format: must be json or md".into(),
            ))
        }
    };
    let name = format!(
        "attachment; filename=\"replay-{}.{ext}\"",
        &id.to_string()[..8]
    );
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}

/// Server-sent events: `ready` when connected, then `changed` (at most four a second) whenever
/// new events were stored by any server instance. Pages refetch their data on `changed`.
#[utoipa::path(get, path = "/api/v1/ops/stream",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "text/event-stream of `ready` and `changed` events", content_type = "text/event-stream"),
        (status = 401, description = "no session and no valid API token", body = ErrorBody)))]
async fn stream(State(state): State<AppState>) -> impl IntoResponse {
    state.live.stream()
}
