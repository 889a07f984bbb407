//! `servicekanal dev`: the local stack behind an HTTP server. The webhook at `/webhook` is the
//! function's own handler; `/local/...` is the JSON control API of the page at `/` and of the
//! end-to-end test (documented in docs/local-stack.md).

use crate::faults::{FaultCounts, FaultPlan, Faults};
use crate::privacy::{Ops, OpsError, Target, person_ref};
use crate::review;
use crate::stack::LocalStack;
use anyhow::{Context, Result};
use axum::Json;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};
use servicekanal_shared::channels::whatsapp::graph::{GraphApi, GraphApiConfig};
use servicekanal_shared::channels::whatsapp::outbox::{Mirrored, RecordingOutbox};
use servicekanal_shared::channels::whatsapp::payload::{Sender, UserMessage};
use servicekanal_shared::domain::identity::Identifier;
use servicekanal_shared::domain::keys::canonical_user_id;
use servicekanal_shared::domain::messages::{AgentAct, AgentAction, ConversationRef};
use servicekanal_shared::policy::mask::Secret;
use servicekanal_shared::policy::privacy::PersonRef;
use servicekanal_shared::ports::clock::{Clock, OffsetClock};
use servicekanal_shared::ports::directory::DemoDirectory;
use servicekanal_shared::ports::objects::local::replace_file;
use servicekanal_shared::ports::store::Record;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use voice_intake::SalesAction;

const PAGE: &str = include_str!("../web/index.html");
/// Where the clock's offset is kept, so a restart does not turn back time.
const OFFSET_FILE: &str = "clock-offset-seconds";

/// How many queue consumers run at once: Lambda's concurrent invocations of the consumers.
/// A bot turn may wait for a burst window, so one consumer would hold up every contact.
pub const CONSUMERS: usize = 8;

pub struct DevServer {
    pub stack: LocalStack,
    pub clock: OffsetClock,
    data_dir: PathBuf,
    /// Wakes a consumer: a webhook POST was queued. Many POSTs while the consumers are busy
    /// leave one wake-up, and the consumer drains all of them in batches.
    consumers: tokio::sync::Notify,
}

impl DevServer {
    /// Opens the stack on `data_dir` with the clock offset kept there, with the recording
    /// outbox, or a developer's real test number when the environment names one (see
    /// [`RealNumber`]).
    /// Lisa's and the timers' settings are read from the environment as in AWS
    /// (`BURST_WINDOW_MS`, `INACTIVITY_MINUTES`, `RATE_LIMIT_MESSAGES`,
    /// `RATE_LIMIT_WINDOW_MINUTES`).
    pub fn open(data_dir: &Path) -> Result<Arc<Self>> {
        Self::open_faulty(data_dir, Faults::none())
    }

    /// As [`DevServer::open`], every port behind the fault switch `faults`
    /// (`servicekanal dev --faults ...`).
    pub fn open_faulty(data_dir: &Path, faults: Arc<Faults>) -> Result<Arc<Self>> {
        let env = |k: &str| std::env::var(k).ok();
        Self::open_with(
            data_dir,
            RealNumber::from_lookup(env),
            bot_reply::BotConfig::from_lookup(env)?,
            faults,
        )
    }

    /// As [`DevServer::open_faulty`] with bot-reply's settings given (the load generator's).
    pub fn open_configured(
        data_dir: &Path,
        bot_config: bot_reply::BotConfig,
        faults: Arc<Faults>,
    ) -> Result<Arc<Self>> {
        Self::open_with(data_dir, None, bot_config, faults)
    }

    fn open_with(
        data_dir: &Path,
        real: Option<RealNumber>,
        bot_config: bot_reply::BotConfig,
        faults: Arc<Faults>,
    ) -> Result<Arc<Self>> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let offset = std::fs::read_to_string(data_dir.join(OFFSET_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        let clock = OffsetClock::new(Duration::seconds(offset));
        let mut stack = match real {
            None => LocalStack::open_faulty(data_dir, Arc::new(clock.clone()), faults)?,
            Some(real) => {
                // Real people's numbers and texts: kept in memory only, never in a file
                // outside the store's deadlines.
                let outbox = Arc::new(RecordingOutbox::new(Arc::new(clock.clone())));
                let mut config =
                    GraphApiConfig::new(real.phone_number_id, Secret(real.access_token));
                if let Some(version) = &real.api_version {
                    config.api_version =
                        servicekanal_shared::channels::whatsapp::graph::parse_api_version(version)?;
                }
                let graph = GraphApi::new(config);
                let mirrored = Arc::new(Mirrored {
                    primary: Arc::new(graph),
                    outbox: outbox.clone(),
                });
                let mut stack = LocalStack::open_with(
                    data_dir,
                    Arc::new(clock.clone()),
                    outbox,
                    mirrored,
                    faults,
                )?;
                stack.webhook.config.app_secret = Secret(real.app_secret);
                stack.simulate_statuses = false;
                stack.webhook.config.verify_token = Secret(real.verify_token);
                tracing::info!("sending through the Graph API (WHATSAPP_ACCESS_TOKEN is set)");
                stack
            }
        };
        stack.bot.config = bot_config;
        Ok(Arc::new(Self {
            stack,
            clock,
            data_dir: data_dir.to_owned(),
            consumers: tokio::sync::Notify::new(),
        }))
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/", get(|| async { Html(PAGE) }))
            .route("/webhook", get(webhook).post(webhook))
            .route("/local/personas", get(personas))
            .route("/local/messages", post(send_message))
            .route("/local/phone", get(phone))
            .route("/local/outbox", get(outbox))
            .route("/local/desk", get(desk))
            .route("/local/desk/actions", post(desk_action))
            .route("/local/records", get(records))
            .route("/local/identity", get(identity))
            .route("/local/calls", post(call))
            .route("/local/voice", post(voice_event))
            .route("/local/callbacks", get(callbacks))
            .route("/local/callbacks/topics", get(callback_topics))
            .route("/local/callbacks/done", post(callback_done))
            .route("/local/callbacks/hold", post(callback_hold))
            .route("/local/clock", get(clock).post(advance_clock))
            .route("/local/faults", get(faults).post(set_faults))
            .route("/local/audit", post(audit))
            .route("/local/stats", get(statistics))
            .route("/local/sweep", post(sweep))
            .route("/local/privacy/erase", post(erase))
            .route("/local/privacy/export", post(export))
            .route("/local/holds", get(holds).post(place_holds))
            .route("/local/holds/release", post(release_holds))
            .route("/local/review", get(review_list))
            .route("/local/review/label", post(review_label))
            .route("/local/review/discard", post(review_discard))
            .route("/local/review/purge", post(review_purge))
            .layer(axum::middleware::from_fn(loopback_names_only))
            .with_state(self.clone())
    }

    /// Serves until Ctrl-C; the retention sweeper runs every minute meanwhile, as its
    /// schedule would (real time moves deadlines past too, not only the clock buttons).
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) -> Result<()> {
        self.start_background();
        axum::serve(listener, self.router())
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    }

    /// The consumers, their retry tick and the sweeper's schedule.
    fn start_background(self: &Arc<Self>) {
        for _ in 0..CONSUMERS {
            let consuming = self.clone();
            tokio::spawn(async move {
                loop {
                    consuming.consumers.notified().await;
                    consuming.stack.run().await;
                }
            });
        }
        // What is left after a restart, a failed item, a lapsed visibility timeout, a due
        // timer: looked at every second, as Lambda's pollers keep polling.
        let retrying = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                every.tick().await;
                if retrying.stack.due() > 0 {
                    retrying.consumers.notify_one();
                }
            }
        });
        let sweeping = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                if let Err(e) = sweeping.stack.sweep().await {
                    tracing::error!(error = %e, "retention sweep failed; retried next minute");
                }
            }
        });
    }
}

/// A developer's own WhatsApp test number, reached through a tunnel to `/webhook`: set
/// `WHATSAPP_ACCESS_TOKEN`, `WHATSAPP_PHONE_NUMBER_ID`, `WHATSAPP_APP_SECRET` and
/// `WHATSAPP_VERIFY_TOKEN` (the last two default to the local ones).
pub struct RealNumber {
    pub access_token: String,
    pub phone_number_id: String,
    /// `GRAPH_API_VERSION`, else the default.
    pub api_version: Option<String>,
    pub app_secret: String,
    pub verify_token: String,
}

impl RealNumber {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        Some(Self {
            access_token: get("WHATSAPP_ACCESS_TOKEN")?,
            phone_number_id: get("WHATSAPP_PHONE_NUMBER_ID")?,
            api_version: get(servicekanal_shared::channels::whatsapp::graph::API_VERSION_ENV),
            app_secret: get("WHATSAPP_APP_SECRET")
                .unwrap_or_else(|| crate::stack::LOCAL_APP_SECRET.into()),
            verify_token: get("WHATSAPP_VERIFY_TOKEN")
                .unwrap_or_else(|| crate::stack::LOCAL_VERIFY_TOKEN.into()),
        })
    }
}

type App = State<Arc<DevServer>>;

/// A control-API failure: a message and a status, as JSON.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

/// The page and the control API answer only requests addressed to this machine by a loopback
/// name (`127.0.0.1`, `localhost`, `[::1]`): a tunnel to the port (a developer's real test
/// number) then publishes `/webhook` only, and a web page cannot reach the control API by
/// DNS rebinding. `/webhook` takes any `Host`: WhatsApp signs what it posts.
async fn loopback_names_only(request: Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path();
    let guarded = path == "/" || path.starts_with("/local/");
    if guarded && !addressed_to_loopback(request.headers()) {
        return ApiError(
            StatusCode::FORBIDDEN,
            "the page and the control API answer on 127.0.0.1 and localhost only".into(),
        )
        .into_response();
    }
    next.run(request).await
}

/// Whether the `Host` header names this machine's loopback interface.
pub fn addressed_to_loopback(headers: &axum::http::HeaderMap) -> bool {
    let Some(host) = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "::1"
}

/// The webhook, byte for byte the Lambda handler; a consumer is woken, as the event source
/// mapping would start one.
async fn webhook(State(app): App, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, whatsapp_webhook::DEFAULT_MAX_BODY_BYTES + 1).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "payload too large").into_response();
    };
    let request = lambda_http::Request::from_parts(parts, lambda_http::Body::from(bytes.to_vec()));
    let response = app.stack.webhook(request).await;
    if response.status().is_success() {
        app.consumers.notify_one();
    }
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::from(body.to_vec()))
}

#[derive(Serialize)]
struct Persona {
    label: String,
    /// Absent for a user with a username whose number WhatsApp withholds.
    wa_id: Option<String>,
    /// The business-scoped user id every 2026 message carries.
    user_id: String,
    username: Option<String>,
    name: String,
    /// For customers: the demo login (the local stack only; these are not real people).
    customer_number: Option<String>,
    password: Option<String>,
}

/// The demo directory's passwords (documented in the README); the directory holds only hashes.
const DEMO_PASSWORDS: [(&str, &str); 3] = [
    ("K1002003", "Sommer2026!"),
    ("K2004005", "Winter2026?"),
    ("K3006007", "Fruehling#26"),
];

async fn personas() -> Json<Vec<Persona>> {
    let mut personas = vec![
        Persona {
            label: "Interessentin (noch keine Kundin)".into(),
            wa_id: Some("4915790000001".into()),
            user_id: "DE.1349120865530001".into(),
            username: None,
            name: "Paula Neumann".into(),
            customer_number: None,
            password: None,
        },
        Persona {
            label: "Nur Nutzername (keine Nummer)".into(),
            wa_id: None,
            user_id: "DE.7715320988410042".into(),
            username: Some("lena.k".into()),
            name: "Lena Krause".into(),
            customer_number: None,
            password: None,
        },
    ];
    for (i, customer) in DemoDirectory::demo().customers().iter().enumerate() {
        let password = DEMO_PASSWORDS
            .iter()
            .find(|(n, _)| *n == customer.customer_number)
            .map(|(_, p)| (*p).to_owned());
        personas.push(Persona {
            label: format!("Kunde {}", customer.customer_number),
            wa_id: Some(format!("49151123456{:02}", i + 1)),
            user_id: format!("DE.13491208655302{:02}", i + 1),
            username: None,
            name: customer.display_name.clone(),
            customer_number: Some(customer.customer_number.clone()),
            password,
        });
    }
    Json(personas)
}

#[derive(Deserialize)]
struct SendMessage {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    name: Option<String>,
    message: UserMessage,
}

/// The sender of a simulated message: a phone number in digits, a user id, or both.
fn sender_of(request: &SendMessage) -> Result<Sender, ApiError> {
    if let Some(wa_id) = &request.wa_id
        && (!wa_id.chars().all(|c| c.is_ascii_digit()) || wa_id.len() < 8)
    {
        return Err(bad_request(
            "wa_id must be an international number in digits",
        ));
    }
    if let Some(user_id) = &request.user_id
        && canonical_user_id(user_id).is_none()
    {
        return Err(bad_request(
            "user_id must be a WhatsApp user id such as DE.1349120865530274",
        ));
    }
    if request.wa_id.is_none() && request.user_id.is_none() {
        return Err(bad_request("give a wa_id, a user_id or both"));
    }
    Ok(Sender {
        wa_id: request.wa_id.clone(),
        user_id: request.user_id.clone(),
        username: request.username.clone(),
        profile_name: request.name.clone(),
    })
}

async fn send_message(
    State(app): App,
    Json(request): Json<SendMessage>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let sender = sender_of(&request)?;
    let wamid = app.stack.sends_as(&sender, &request.message).await?;
    Ok(Json(serde_json::json!({ "wamid": wamid })))
}

/// A simulated phone: by number, or by user id if it shows none.
#[derive(Deserialize)]
struct PhoneQuery {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
}

impl PhoneQuery {
    fn identifiers(&self) -> Vec<Identifier> {
        servicekanal_shared::domain::identity::identifiers(
            self.wa_id.as_deref(),
            self.user_id.as_deref(),
        )
    }
}

async fn phone(State(app): App, Query(q): Query<PhoneQuery>) -> impl IntoResponse {
    let address = q
        .wa_id
        .as_deref()
        .or(q.user_id.as_deref())
        .unwrap_or_default();
    Json(app.stack.phone(address))
}

/// Which identifiers the contact behind a simulated phone has stored, masked.
async fn identity(
    State(app): App,
    Query(q): Query<PhoneQuery>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(app.stack.identity(&q.identifiers()).await?))
}

async fn outbox(State(app): App) -> impl IntoResponse {
    Json(app.stack.outbox.sent())
}

async fn desk(State(app): App) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(app.stack.desk_log().await?))
}

#[derive(Deserialize)]
struct DeskAction {
    conversation: ConversationRef,
    #[serde(default = "default_agent")]
    agent: String,
    #[serde(flatten)]
    act: AgentAct,
}

fn default_agent() -> String {
    "agent-local".into()
}

async fn desk_action(
    State(app): App,
    Json(action): Json<DeskAction>,
) -> Result<impl IntoResponse, ApiError> {
    let action_id = ulid::Ulid::from_datetime(app.stack.now().into());
    let report = app
        .stack
        .agent_acts(AgentAction {
            action_id,
            conversation: action.conversation,
            agent: action.agent,
            act: action.act,
        })
        .await?;
    Ok(Json(serde_json::json!({
        "action_id": action_id,
        "handled": report.handled,
        "failed": report.failed,
    })))
}

#[derive(Serialize)]
struct RecordView {
    pk: String,
    sk: String,
    kind: String,
    retention_class: String,
    expires_at: DateTime<Utc>,
    seconds_left: i64,
    /// The item's body as stored (the local stack shows everything; nothing here is logged).
    data: serde_json::Value,
}

fn view(record: Record, now: DateTime<Utc>) -> RecordView {
    RecordView {
        seconds_left: (record.expires_at - now).num_seconds(),
        pk: record.key.pk,
        sk: record.key.sk,
        kind: record.kind.to_string(),
        retention_class: record.retention.id().to_owned(),
        expires_at: record.expires_at,
        data: serde_dynamo::from_item(record.data.to_item()).unwrap_or(serde_json::Value::Null),
    }
}

async fn records(State(app): App) -> Result<impl IntoResponse, ApiError> {
    let now = app.stack.now();
    let items = app.stack.store.readable_items().map_err(OpsError::from)?;
    Ok(Json(
        items.into_iter().map(|r| view(r, now)).collect::<Vec<_>>(),
    ))
}

/// What stats-export wrote so far, per table: its objects and rows (newest last).
async fn statistics(State(app): App) -> Result<impl IntoResponse, ApiError> {
    app.stack.export_stats().await?;
    Ok(Json(app.stack.statistics().await?))
}

async fn call(
    State(app): App,
    Json(call): Json<crate::stack::Call>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(app.stack.call(&call).await?))
}

/// Any event voice-intake takes, e.g. a file of `events/voice-intake/`.
async fn voice_event(
    State(app): App,
    Json(event): Json<serde_json::Value>,
) -> Result<impl IntoResponse, ApiError> {
    app.stack
        .voice(event)
        .await
        .map(Json)
        .map_err(|e| bad_request(e.to_string()))
}

async fn callbacks(State(app): App) -> Result<impl IntoResponse, ApiError> {
    let open = voice_intake::list_open(app.stack.store.as_ref())
        .await
        .map_err(OpsError::from)?;
    Ok(Json(open))
}

async fn callback_topics(State(app): App) -> impl IntoResponse {
    let topics: Vec<_> = app
        .stack
        .voice
        .catalogue
        .topics()
        .iter()
        .map(|t| serde_json::json!({"id": t.id, "label": t.label}))
        .collect();
    Json(topics)
}

#[derive(Deserialize)]
struct SalesRequest {
    reference: String,
}

async fn callback_done(
    State(app): App,
    Json(request): Json<SalesRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let action = SalesAction::Done {
        reference: request.reference,
    };
    let done = voice_intake::apply(app.stack.store.as_ref(), &action, app.clock.now())
        .await
        .map_err(OpsError::from)?;
    Ok(Json(serde_json::json!({"done": done.reference})))
}

/// A hold with the default reason (sales gives none).
async fn callback_hold(
    State(app): App,
    Json(request): Json<SalesRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let action = SalesAction::Hold {
        reference: request.reference.clone(),
        reason: None,
    };
    voice_intake::apply(app.stack.store.as_ref(), &action, app.clock.now())
        .await
        .map_err(OpsError::from)?;
    Ok(Json(serde_json::json!({"held": request.reference})))
}

#[derive(Serialize)]
struct ClockView {
    now: DateTime<Utc>,
    offset_seconds: i64,
}

async fn clock(State(app): App) -> Json<ClockView> {
    Json(ClockView {
        now: app.clock.now(),
        offset_seconds: app.clock.offset().num_seconds(),
    })
}

#[derive(Deserialize)]
struct Advance {
    /// `30m`, `1h`, `1d`, `8d`, `4mo`, `14mo`.
    advance: String,
}

/// The fault switch: its plan, what it injected so far, and how many messages are queued.
#[derive(Serialize)]
struct FaultsView {
    plan: FaultPlan,
    counts: FaultCounts,
    /// Messages in the consumers' queues, waiting timers and turns under way included.
    queued: usize,
    /// Of those, what a consumer could take now (failed ones wait here for the next try).
    due: usize,
    /// Messages that failed five times and went to the dead-letter queue.
    dead_letters: usize,
}

async fn faults(State(app): App) -> Json<FaultsView> {
    Json(FaultsView {
        plan: app.stack.faults.plan(),
        counts: app.stack.faults.counts(),
        queued: app.stack.queued(),
        due: app.stack.due(),
        dead_letters: app.stack.queues.dead_letters.depth(),
    })
}

#[derive(Deserialize)]
struct SetFaults {
    /// As `--faults`: `store=0.05,queue=0.05,graph=0.1,objects=0.1,seed=7`; empty: off.
    plan: String,
}

async fn set_faults(
    State(app): App,
    Json(request): Json<SetFaults>,
) -> Result<Json<FaultsView>, ApiError> {
    let plan: FaultPlan = request
        .plan
        .parse()
        .map_err(|e: crate::faults::FaultPlanError| bad_request(e.to_string()))?;
    tracing::info!(?plan, "fault switch set");
    app.stack.faults.set(plan);
    Ok(faults(State(app)).await)
}

#[derive(Deserialize)]
struct AuditRequest {
    /// WhatsApp message ids the caller had acknowledged by the webhook.
    wamids: Vec<String>,
}

/// Whether each of these messages is stored once and answered once, each reply sent once and
/// each statistics row written once (the crash and fault tests' check; see `load::audit`).
async fn audit(
    State(app): App,
    Json(request): Json<AuditRequest>,
) -> Result<Json<crate::load::Audit>, ApiError> {
    Ok(Json(crate::load::audit(&app.stack, &request.wamids).await?))
}

/// Parses a step like `90m`, `1h`, `8d`, `4mo`; months count on the calendar from `now`.
pub fn parse_step(step: &str, now: DateTime<Utc>) -> Option<Duration> {
    let step = step.trim();
    let split = step.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = step.split_at(split);
    let n: i64 = number.parse().ok().filter(|n| *n > 0)?;
    match unit {
        "m" | "min" => Some(Duration::minutes(n)),
        "h" => Some(Duration::hours(n)),
        "d" => Some(Duration::days(n)),
        "mo" => {
            let later = now.checked_add_months(Months::new(u32::try_from(n).ok()?))?;
            Some(later - now)
        }
        _ => None,
    }
}

async fn advance_clock(
    State(app): App,
    Json(request): Json<Advance>,
) -> Result<Json<ClockView>, ApiError> {
    let step = parse_step(&request.advance, app.clock.now())
        .ok_or_else(|| bad_request(format!("cannot read the step {:?}", request.advance)))?;
    app.clock.advance(step);
    replace_file(
        &app.data_dir.join(OFFSET_FILE),
        app.clock.offset().num_seconds().to_string(),
    )
    .context("saving the clock offset")?;
    // Due timers fire; what is past its deadline is already unreadable, and the sweeper
    // removes it physically (its deletions reach the statistics).
    app.stack.run().await;
    let report = app.stack.sweep().await?;
    tracing::info!(
        step = %request.advance,
        removed = report.total_deleted(),
        renewed = report.renewed,
        "clock moved forward"
    );
    Ok(clock(State(app)).await)
}

/// One retention sweep now (the schedule's, by hand).
async fn sweep(State(app): App) -> Result<Json<retention_sweeper::SweepReport>, ApiError> {
    Ok(Json(app.stack.sweep().await?))
}

/// A data-subject request names the person by phone number.
#[derive(Deserialize)]
struct PersonRequest {
    phone: Option<String>,
    user_id: Option<String>,
}

impl PersonRequest {
    fn person(&self) -> Result<PersonRef, ApiError> {
        person_ref(self.phone.clone(), self.user_id.clone())
            .ok_or_else(|| bad_request("name either phone or user_id"))
    }
}

/// A hold (with its reason) or release: a phone number or user id, a callback reference or
/// a key.
#[derive(Deserialize)]
struct TargetRequest {
    phone: Option<String>,
    user_id: Option<String>,
    reference: Option<String>,
    key: Option<String>,
    #[serde(default)]
    reason: String,
}

impl TargetRequest {
    fn target(self) -> Result<(Target, String), ApiError> {
        let reason = self.reason;
        let person = match (&self.phone, &self.user_id) {
            (None, None) => None,
            _ => Some(
                person_ref(self.phone, self.user_id)
                    .ok_or_else(|| bad_request("name either phone or user_id"))?,
            ),
        };
        Target::of(person, self.reference, self.key)
            .map(|target| (target, reason))
            .ok_or_else(|| bad_request("name one of phone, user_id, reference or key"))
    }
}

impl DevServer {
    /// The privacy operations on the embedded store, as `--table` runs them in AWS.
    fn ops(&self) -> Ops<'_> {
        Ops {
            store: self.stack.store.as_ref(),
            pseudonymizer: &self.stack.bot.pseudonymizer,
        }
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> Self {
        let status = if e.is_bad_request() {
            StatusCode::BAD_REQUEST
        } else if e.is_not_found() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        ApiError(status, e.to_string())
    }
}

/// Right to be forgotten: everything of the person, in every store; counts per class.
async fn erase(
    State(app): App,
    Json(request): Json<PersonRequest>,
) -> Result<Json<servicekanal_shared::ports::store::DeletionReport>, ApiError> {
    let report = app.ops().erase(&request.person()?).await?;
    app.stack.export_stats().await?;
    Ok(Json(report))
}

/// Right of access: everything stored about the person, as one document.
async fn export(
    State(app): App,
    Json(request): Json<PersonRequest>,
) -> Result<Json<servicekanal_shared::policy::privacy::AccessReport>, ApiError> {
    Ok(Json(
        app.ops()
            .export(&request.person()?, app.clock.now())
            .await?,
    ))
}

async fn holds(
    State(app): App,
) -> Result<Json<Vec<servicekanal_shared::policy::privacy::HoldView>>, ApiError> {
    Ok(Json(app.ops().holds().await?))
}

/// A hold on a person (every item of theirs) or on one callback request (its reference).
async fn place_holds(
    State(app): App,
    Json(request): Json<TargetRequest>,
) -> Result<Json<servicekanal_shared::policy::privacy::HoldReport>, ApiError> {
    let (target, reason) = request.target()?;
    Ok(Json(
        app.ops().place(&target, &reason, app.clock.now()).await?,
    ))
}

/// Releases the holds of a person, or one hold by its key (as `GET /local/holds` shows it).
async fn release_holds(
    State(app): App,
    Json(request): Json<TargetRequest>,
) -> Result<Json<servicekanal_shared::policy::privacy::HoldReport>, ApiError> {
    let (target, _) = request.target()?;
    let report = app.ops().release(&target).await?;
    app.stack.export_stats().await?;
    Ok(Json(report))
}

/// Lisa's review list: messages she misunderstood, scrubbed.
async fn review_list(State(app): App) -> Result<Json<Vec<review::ReviewView>>, ApiError> {
    Ok(Json(review::list(app.stack.store.as_ref()).await?))
}

/// Labels a review item: an anonymised training example is stored, the item deleted.
async fn review_label(
    State(app): App,
    Json(request): Json<review::LabelRequest>,
) -> Result<Json<review::Labelled>, ApiError> {
    let example = review::label(
        app.stack.store.as_ref(),
        app.stack.examples.as_ref(),
        &request.id,
        &request.topic,
    )
    .await
    .map_err(|e| bad_request(e.to_string()))?;
    app.stack.export_stats().await?;
    Ok(Json(review::Labelled { example }))
}

async fn review_discard(
    State(app): App,
    Json(request): Json<review::IdRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    review::discard(app.stack.store.as_ref(), &request.id)
        .await
        .map_err(|e| bad_request(e.to_string()))?;
    app.stack.export_stats().await?;
    Ok(Json(serde_json::json!({ "discarded": request.id })))
}

async fn review_purge(
    State(app): App,
    Json(request): Json<review::PurgeRequest>,
) -> Result<Json<review::Purged>, ApiError> {
    let purged = review::purge(app.stack.examples.as_ref(), &request.contains)
        .await
        .map_err(|e| bad_request(e.to_string()))?;
    Ok(Json(review::Purged { purged }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_number_needs_a_token_and_a_phone_number_id() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(RealNumber::from_lookup(env(&[])).is_none());
        assert!(RealNumber::from_lookup(env(&[("WHATSAPP_ACCESS_TOKEN", "EAAG")])).is_none());
        let real = RealNumber::from_lookup(env(&[
            ("WHATSAPP_ACCESS_TOKEN", "EAAG"),
            ("WHATSAPP_PHONE_NUMBER_ID", "1065"),
            ("WHATSAPP_APP_SECRET", "real-secret"),
        ]))
        .unwrap();
        assert_eq!(real.app_secret, "real-secret");
        assert_eq!(real.verify_token, crate::stack::LOCAL_VERIFY_TOKEN);
    }

    #[test]
    fn steps_are_read_with_their_unit() {
        let now = DateTime::parse_from_rfc3339("2026-01-31T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_step("1h", now), Some(Duration::hours(1)));
        assert_eq!(parse_step("8d", now), Some(Duration::days(8)));
        assert_eq!(parse_step("90m", now), Some(Duration::minutes(90)));
        // One calendar month from 31 January ends on the last day of February.
        assert_eq!(parse_step("1mo", now), Some(Duration::days(28)));
        for bad in ["", "d", "0d", "-1d", "3 weeks", "2y"] {
            assert_eq!(parse_step(bad, now), None, "{bad:?}");
        }
    }
}
