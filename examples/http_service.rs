//! An HTTP service over the async face: five operations as JSON routes,
//! each in one round trip to PostgreSQL. The tenant and the acting user come
//! from the request's bearer token, never from the request itself.
//!
//! ```sh
//! cargo run --example http_service --features async,serde
//! ```
//!
//! It migrates and provisions the database at `DATABASE_URL` as the
//! quickstart does, prints a token for each user, and serves on
//! `127.0.0.1:3000` (or `LISTEN`). The README has a `curl` session.
//!
//! | route | does | answers |
//! | --- | --- | --- |
//! | `POST /messages` | sends `{to_user_id, subject_skill_id, proposed_parent_skill_id?, message}` | 201 and the message |
//! | `GET /messages?after=&limit=&unread_only=&status=` | the caller's inbox, a page | 200 and `{items, next}` |
//! | `GET /messages/unread_count` | the caller's unread count | 200 and `{unread}` |
//! | `POST /messages/{id}/read` | marks it read | 200 and the message |
//! | `POST /messages/{id}/answer` | answers `{answer: "accept" or "decline"}` | 200 and the message |
//!
//! Errors: 401 without a known token, 404 for an unknown message, user or
//! skill, 403 when the caller is not the recipient, 409 when the message
//! was answered already, 422 for a message that cannot be sent, 400 for a
//! bad cursor or page size, 503 when no connection is to be had, 500
//! otherwise (with nothing of the cause).

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Json, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use skill_messages::asynchronous::AsyncPool;
use skill_messages::{
    Answer, Cursor, Error, MessageQuery, NewSkillMessage, Page, Pool, SkillId, SkillMessage,
    SkillMessageId, SkillMessageStatus, TenantId, UserId,
};

/// Who a request acts as, from its bearer token.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The tenant of every scope the request opens.
    pub tenant: TenantId,
    /// The user the request acts as.
    pub user: UserId,
}

/// What the routes share: the pool and the tokens the service accepts.
#[derive(Clone)]
pub struct App {
    /// The async pool every route calls through.
    pub pool: AsyncPool,
    /// The bearer tokens the service accepts, and whom each stands for.
    pub tokens: Arc<HashMap<String, Caller>>,
}

/// The service's routes.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/messages", post(send).get(inbox))
        .route("/messages/unread_count", get(unread_count))
        .route("/messages/{id}/read", post(mark_read))
        .route("/messages/{id}/answer", post(answer))
        .with_state(app)
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| app.tokens.get(token))
            .copied()
            .ok_or(ApiError::Unauthenticated)
    }
}

/// The body of `POST /messages`: the sender is the caller.
#[derive(Debug, Deserialize)]
struct Proposal {
    to_user_id: UserId,
    subject_skill_id: SkillId,
    proposed_parent_skill_id: Option<SkillId>,
    message: String,
}

async fn send(
    State(app): State<App>,
    caller: Caller,
    Json(proposal): Json<Proposal>,
) -> Result<(StatusCode, Json<SkillMessage>), ApiError> {
    let new = NewSkillMessage {
        from_user_id: caller.user,
        to_user_id: proposal.to_user_id,
        subject_skill_id: proposal.subject_skill_id,
        proposed_parent_skill_id: proposal.proposed_parent_skill_id,
        message: &proposal.message,
    };
    let sent = app.pool.tenant(caller.tenant).send(new).await?;
    Ok((StatusCode::CREATED, Json(sent)))
}

/// The query string of `GET /messages`.
#[derive(Debug, Deserialize)]
struct InboxParams {
    after: Option<String>,
    limit: Option<u32>,
    #[serde(default)]
    unread_only: bool,
    status: Option<SkillMessageStatus>,
}

async fn inbox(
    State(app): State<App>,
    caller: Caller,
    Query(params): Query<InboxParams>,
) -> Result<Json<Page<SkillMessage>>, ApiError> {
    let mut query = MessageQuery::new();
    if let Some(after) = params.after {
        query = query.after(Some(after.parse::<Cursor>()?));
    }
    if let Some(limit) = params.limit {
        query = query.limit(limit);
    }
    if params.unread_only {
        query = query.unread_only();
    }
    if let Some(status) = params.status {
        query = query.status(status);
    }
    let page = app
        .pool
        .tenant(caller.tenant)
        .inbox(caller.user, query)
        .await?;
    Ok(Json(page))
}

#[derive(Debug, Serialize)]
struct Unread {
    unread: u64,
}

async fn unread_count(State(app): State<App>, caller: Caller) -> Result<Json<Unread>, ApiError> {
    let unread = app
        .pool
        .tenant(caller.tenant)
        .unread_count(caller.user)
        .await?;
    Ok(Json(Unread { unread }))
}

async fn mark_read(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<SkillMessageId>,
) -> Result<Json<SkillMessage>, ApiError> {
    let read = app
        .pool
        .tenant(caller.tenant)
        .mark_read(id, caller.user)
        .await?;
    Ok(Json(read))
}

/// The body of `POST /messages/{id}/answer`.
#[derive(Debug, Deserialize)]
struct AnswerBody {
    answer: Answer,
}

async fn answer(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<SkillMessageId>,
    Json(body): Json<AnswerBody>,
) -> Result<Json<SkillMessage>, ApiError> {
    let tenant = app.pool.tenant(caller.tenant);
    let answered = tenant.answer(id, caller.user, body.answer).await?;
    Ok(Json(answered))
}

/// What a route answers instead of its result.
#[derive(Debug)]
pub enum ApiError {
    /// No bearer token the service knows.
    Unauthenticated,
    /// The crate's error.
    Service(Error),
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self::Service(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> HttpResponse {
        let status = match &self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Service(error) => match error {
                Error::NotFound(_) | Error::UnknownUser(_) | Error::UnknownSkill(_) => {
                    StatusCode::NOT_FOUND
                }
                Error::NotRecipient { .. }
                | Error::NotSender { .. }
                | Error::NotParticipant { .. } => StatusCode::FORBIDDEN,
                Error::NotPending { .. } | Error::SendRaced | Error::AlreadyPending(_) => {
                    StatusCode::CONFLICT
                }
                Error::InvalidMessage(_) | Error::SelfMessage(_) | Error::ParentIsSubject(_) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                Error::InvalidCursor | Error::InvalidReadMark | Error::InvalidPageSize(_) => {
                    StatusCode::BAD_REQUEST
                }
                Error::Pool(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        };
        // A refusal says what was wrong; a failure says nothing of its cause.
        let message = match &self {
            Self::Unauthenticated => "a known bearer token is needed".to_owned(),
            Self::Service(error) if error.is_refusal() => error.to_string(),
            Self::Service(_) => "the service failed".to_owned(),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

#[tokio::main]
async fn main() -> Result<(), support::Report> {
    let url = support::database_url();
    let (acme, globex) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || support::migrate_and_provision(&url).map_err(|e| support::chain(&*e))
    })
    .await??;
    let mut tokens = HashMap::new();
    println!("Tokens (Authorization: Bearer <token>):");
    for tenant in [&acme, &globex] {
        for (name, (user, skill)) in tenant.handles.iter().zip(tenant.authors) {
            let token = format!("{}-{name}", tenant.name.to_lowercase());
            println!(
                "  {token:<12} {name} of {}: user {user}, skill {skill}",
                tenant.name
            );
            tokens.insert(
                token,
                Caller {
                    tenant: tenant.id,
                    user,
                },
            );
        }
    }
    let pool = Pool::builder().max_size(8).build_async(&url).await?;
    let app = App {
        pool,
        tokens: Arc::new(tokens),
    };
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("Serving on http://{}", listener.local_addr()?);
    axum::serve(listener, router(app)).await?;
    Ok(())
}
