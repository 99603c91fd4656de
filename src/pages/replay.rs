//! Replay Lab: "Can I reproduce and fix anything?"

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use uuid::Uuid;

use crate::components::async_view::{async_view, on_demand};
use crate::components::erase::Erase;
use crate::components::rendered::Rendered;
use crate::model::incidents::Incident;
#[cfg(feature = "ssr")]
use crate::model::replay::{Comparison, ReplayOptions, ShadowReport, Side, Verdict};
use crate::pages::incidents::{
    load_policy_state, ConfirmDialog, PolicyPage, PolicyVersions, ReasonField, UndoPolicyChange,
};
use crate::pages::settings::{latest_outcome, FormOutcome, Outcome};

#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn load_replay_options(incident_id: String) -> Result<Option<LabPage>, ServerFnError> {
    use crate::server::{replay, session};
    session::require_operator().await?;
    let state = session::state()?;
    let Ok(id) = incident_id.parse::<Uuid>() else {
        return Ok(None);
    };
    let options = session::read(&state.pool, || {
        replay::options(&state.pool, &state.providers, id)
    })
    .await?;
    Ok(options.map(LabPage::from))
}

/// The incident as the Replay Lab uses it in the browser: what its forms need as data, and the
/// original incident's card rendered on the server (`components::rendered`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LabPage {
    pub incident_id: Uuid,
    pub policy_id: String,
    pub model: String,
    pub policy_version: String,
    /// The models and the stored versions of the policy a replay can use.
    pub models: Vec<String>,
    pub versions: Vec<String>,
    /// The original incident's card.
    pub original: String,
}

#[cfg(feature = "ssr")]
impl From<ReplayOptions> for LabPage {
    fn from(o: ReplayOptions) -> Self {
        let inc = o.incident.clone();
        LabPage {
            incident_id: inc.incident_id,
            policy_id: inc.policy_id,
            model: inc.model,
            policy_version: inc.policy_version,
            models: o.models.clone(),
            versions: o.versions.clone(),
            original: view! { <OriginalCard o /> }.to_html(),
        }
    }
}

#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn load_latest_incidents() -> Result<Vec<Incident>, ServerFnError> {
    use crate::server::{incidents, session};
    session::require_operator().await?;
    let state = session::state()?;
    let now = chrono::Utc::now();
    session::read(&state.pool, || incidents::latest(&state.pool, now, 168, 30)).await
}

/// Runs a replay from the page and records it (`REPLAY_EXECUTED`, operator). The answer is the
/// comparison rendered on the server, as the page shows it.
#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn run_replay(
    incident_id: Uuid,
    model: String,
    policy_version: String,
    runs: usize,
) -> Result<String, ServerFnError> {
    use crate::server::replay::{self, ReplayError};
    use crate::server::session;
    session::require_operator().await?;
    let state = session::state()?;
    let c = replay::compare(
        &state.pool,
        &state.providers,
        incident_id,
        Some(&model),
        Some(&policy_version),
        runs,
    )
    .await
    .map_err(|e| match e {
        ReplayError::Db(db) => session::db_error(db),
        other => ServerFnError::new(other.to_string()),
    })?;
    replay::record_replay(&state.pool, &c)
        .await
        .map_err(session::db_error)?;
    Ok(view! { <ComparisonView c /> }.to_html())
}

#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn run_shadow(
    policy_id: String,
    candidate: String,
    incidents: i64,
) -> Result<String, ServerFnError> {
    use crate::server::replay::{self, ReplayError};
    use crate::server::session;
    session::require_operator().await?;
    let state = session::state()?;
    replay::shadow(
        &state.pool,
        &state.providers,
        &policy_id,
        &candidate,
        incidents,
    )
    .await
    .map(|s| view! { <ShadowReportView s /> }.to_html())
    .map_err(|e| match e {
        ReplayError::Db(db) => session::db_error(db),
        other => ServerFnError::new(other.to_string()),
    })
}

/// Promote: `version` becomes the one every tenant runs (pins removed), logged and undoable.
#[server(prefix = "/api/rpc", output = crate::codec::JsonText)]
pub async fn promote_version(
    policy_id: String,
    version: String,
    reason: String,
) -> Result<FormOutcome, ServerFnError> {
    use crate::server::incidents::{Change, ChangeError};
    use crate::server::{analytics, session};
    let operator = session::require_operator().await?;
    let state = session::state()?;
    let change = Change {
        actor: &operator.email,
        action: "promote",
        policy_id: &policy_id,
        to_version: &version,
        tenants: None,
        reason: &reason,
    };
    match analytics::change_version(&state, change).await {
        Ok(id) => Ok(FormOutcome::done(format!(
            "Promoted: every tenant runs {policy_id} {version}. Recorded as change #{id}; undo it from the log below."
        ))),
        Err(ChangeError::Db(e)) => Err(session::db_error(e)),
        Err(refused) => Ok(FormOutcome::refused(vec![refused.to_string()])),
    }
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%b %-d, %H:%M UTC").to_string()
}

/// `/replay`: pick an incident.
#[component]
pub fn ReplayPickerPage() -> impl IntoView {
    let list = Resource::new(|| (), |_| load_latest_incidents());
    let navigate = use_navigate();
    let typed = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let open = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = typed.get_untracked();
        match text.trim().parse::<Uuid>() {
            Ok(id) => navigate(&format!("/replay/{id}"), Default::default()),
            Err(_) => problem.set(Some("An incident id is a UUID.".into())),
        }
    };
    view! {
        <Title text="Replay Lab" />
        <header class="page-header">
            <h1>"Replay Lab"</h1>
            <p class="question">"Can I reproduce and fix anything?"</p>
        </header>
        <section class="card">
            <form class="webhook-add" on:submit=open>
                <label for="incident-id">"Incident id"</label>
                <input id="incident-id" type="text" autocomplete="off" placeholder="e.g. 0d5b…"
                    on:input=move |ev| typed.set(event_target_value(&ev)) />
                <button type="submit" class="button primary">"Open"</button>
            </form>
            {move || problem.get().map(|p| view! { <p class="form-outcome bad" role="alert">{p}</p> })}
        </section>
        <section class="card" aria-labelledby="pick-heading">
            <h2 id="pick-heading">"Latest incidents (7 days)"</h2>
            {async_view(
                move || async move { list.await },
                |list: Vec<Incident>| {
                    if list.is_empty() {
                        return view! { <p class="empty-state" data-testid="replay-empty">"No incident in the last 7 days: nothing to replay."</p> }.erase();
                    }
                    view! {
                        <ul class="pick-list" data-testid="pick-list">
                            {list.into_iter().map(|i| view! {
                                <li>
                                    <a href=format!("/replay/{}", i.incident_id)>
                                        {format!("{} · {} {} · {} · severity {}", when(i.at), i.policy_id, i.policy_version, i.model,
                                            i.severity.map(|s| s.to_string()).unwrap_or_else(|| "—".into()))}
                                    </a>
                                    <span class="muted small-print">{format!(" {}", i.tenant_name)}</span>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.erase()
                },
            )}
        </section>
    }
}

/// `/replay/:incident_id` (with optional `?model=` and `?policy_version=`).
#[component]
pub fn ReplayPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("incident_id").unwrap_or_default());
    let options = Resource::new(move || id.get(), load_replay_options);
    view! {
        <Title text="Replay Lab" />
        <header class="page-header">
            <p class="breadcrumb"><a href="/replay">"← Replay Lab"</a></p>
            <h1>"Replay Lab"</h1>
            <p class="question">"Can I reproduce and fix anything?"</p>
        </header>
        {async_view(
            move || async move { options.await },
            |o: Option<LabPage>| match o {
                Some(o) => view! { <Lab o /> }.erase(),
                None => view! { <Missing /> }.erase(),
            },
        )}
    }
}

#[component]
fn Missing() -> impl IntoView {
    crate::pages::not_found::answer_not_found();
    view! {
        <section class="card not-found" data-testid="replay-missing">
            <p>"No such incident. " <a href="/replay">"Pick one from the latest"</a> "."</p>
        </section>
    }
}

#[cfg(feature = "ssr")]
fn verdict_badge(v: Verdict) -> impl IntoView {
    let class = if v.good() { "risk low" } else { "risk high" };
    let mark = if v.good() { "✓ " } else { "⚠ " };
    view! { <span class=class data-testid="verdict">{mark}{v.code()}</span> }
}

#[cfg(feature = "ssr")]
fn money(c: Option<f64>) -> String {
    c.map_or_else(|| "—".into(), |c| format!("${c:.6}"))
}

/// The original incident as it happened, and its verdict under its own version's rules.
#[cfg(feature = "ssr")]
#[component]
fn OriginalCard(o: ReplayOptions) -> impl IntoView {
    let inc = o.incident;
    let judged = o.original.map(|e| {
        let reason = format!("{} {}: {}", inc.policy_id, inc.policy_version, e.reason);
        view! {
            {verdict_badge(e.verdict)}
            <p class="muted small-print">{reason}</p>
        }
    });
    view! {
        <section class="card" aria-labelledby="original-heading" data-testid="original">
            <h2 id="original-heading">{format!("Incident {}…", &inc.incident_id.to_string()[..8])}</h2>
            <dl class="facts">
                <dt>"Tenant"</dt><dd><a href=format!("/customers/{}", inc.tenant_id)>{inc.tenant_name}</a></dd>
                <dt>"Model"</dt><dd>{inc.model}</dd>
                <dt>"Policy"</dt><dd>{format!("{} {}", inc.policy_id, inc.policy_version)}</dd>
                <dt>"Time"</dt><dd>{when(inc.at)}</dd>
                <dt>"Severity"</dt><dd>{inc.severity}</dd>
            </dl>
            <h3>"Input"</h3>
            <div class="input-box">
                <p><strong>"User: "</strong>{inc.user}</p>
                <p><strong>"Context: "</strong><code>{inc.context.to_string()}</code></p>
            </div>
            <h3>"Output"</h3>
            <blockquote class="replay-output" data-testid="original-output">{inc.output}</blockquote>
            {judged}
        </section>
    }
}

#[component]
fn Lab(o: LabPage) -> impl IntoView {
    let query = use_query_map();
    let start_model = query
        .read_untracked()
        .get("model")
        .filter(|m| o.models.contains(m))
        .unwrap_or_else(|| o.model.clone());
    let start_version = query
        .read_untracked()
        .get("policy_version")
        .filter(|v| o.versions.contains(v))
        .unwrap_or_else(|| o.policy_version.clone());
    let model = RwSignal::new(start_model);
    let version = RwSignal::new(start_version);
    let runs = RwSignal::new(3usize);
    let run = Action::new(move |(id, m, v, n): &(Uuid, String, String, usize)| {
        run_replay(*id, m.clone(), v.clone(), *n)
    });
    let incident_id = o.incident_id;
    let export = move |format: &str| {
        format!(
            "/api/v1/ops/replays/export?incident_id={incident_id}&model={}&policy_version={}&format={format}",
            model.get(),
            version.get()
        )
    };
    let versions_known = !o.versions.is_empty();
    let policy_id = o.policy_id.clone();
    view! {
        <Rendered html=o.original />
        <section class="card" aria-labelledby="replay-heading">
            <h2 id="replay-heading">"Replay"</h2>
            {(!versions_known).then(|| view! {
                <p class="notice">{format!("No version of {} is stored, so it cannot be evaluated.", o.policy_id)}</p>
            })}
            <form class="replay-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                run.dispatch((incident_id, model.get_untracked(), version.get_untracked(), runs.get_untracked()));
            }>
                <label for="replay-model">"Model"</label>
                <select id="replay-model" on:change=move |ev| model.set(event_target_value(&ev))>
                    {o.models.iter().map(|m| {
                        let m = m.clone();
                        let selected = model.get_untracked() == m;
                        view! { <option value=m.clone() selected=selected>{m.clone()}</option> }
                    }).collect_view()}
                </select>
                <label for="replay-version">"Policy version"</label>
                <select id="replay-version" on:change=move |ev| version.set(event_target_value(&ev))>
                    {o.versions.iter().map(|v| {
                        let v = v.clone();
                        let selected = version.get_untracked() == v;
                        view! { <option value=v.clone() selected=selected>{format!("{} {}", policy_id, v)}</option> }
                    }).collect_view()}
                </select>
                <label for="replay-runs">"Runs"</label>
                <input id="replay-runs" type="number" min="1" max="10" value="3"
                    on:input=move |ev| runs.set(event_target_value(&ev).parse().unwrap_or(1).clamp(1, 10)) />
                <button type="submit" class="button primary" data-testid="run-replay"
                    disabled=move || run.pending().get() || !versions_known>
                    {move || if run.pending().get() { "Running…" } else { "Run Replay" }}
                </button>
            </form>
            {move || run.value().get().map(|r| match r {
                Ok(html) => view! { <Rendered html /> }.erase(),
                Err(e) => view! {
                    <div class="form-outcome bad" role="alert" data-testid="replay-error">
                        {e.to_string().trim_start_matches("error running server function: ").to_owned()}
                    </div>
                }.erase(),
            })}
            {move || run.value().get().and_then(|r| r.ok()).map(|_| view! {
                <div class="actions-row">
                    <a class="button" href=export("json") download data-testid="export-json">"Export Comparison (JSON)"</a>
                    <a class="button" href=export("md") download data-testid="export-md">"Export Comparison (Markdown)"</a>
                </div>
            })}
        </section>
        <PromoteCard policy_id=o.policy_id.clone() version />
        <ShadowCard policy_id=o.policy_id versions=o.versions start=version.get_untracked() />
    }
}

#[cfg(feature = "ssr")]
#[component]
fn SideView(title: String, s: Side) -> impl IntoView {
    view! {
        <div class="replay-side">
            <h3>{title}</h3>
            <p class="muted small-print">{format!("{} · policy {}", s.model, s.policy_version)}</p>
            <blockquote class="replay-output">{s.output}</blockquote>
            {verdict_badge(s.verdict)}
            <p class="muted small-print">{s.reason}</p>
        </div>
    }
}

/// A replay against the original: both answers, the words that changed, and the delta.
#[cfg(feature = "ssr")]
#[component]
fn ComparisonView(c: Comparison) -> impl IntoView {
    let d = c.delta.clone();
    let arrow = |n: i64| match n.signum() {
        -1 => format!("↓{}", -n),
        1 => format!("↑{n}"),
        _ => "no change".into(),
    };
    let determinism = serde_json::to_value(d.determinism)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    view! {
        <div class="comparison" data-testid="comparison">
            <div class="two-col">
                <SideView title="Original".into() s=c.original.clone() />
                <SideView title=format!("Replay ({})", c.replay.policy_version) s=c.replay.clone() />
            </div>
            <h3>"Word by word"</h3>
            <p class="diff-text" data-testid="replay-diff">
                {c.diff.into_iter().map(|(kind, text)| match kind {
                    '-' => view! { <del>{text}</del> }.erase(),
                    '+' => view! { <ins>{text}</ins> }.erase(),
                    _ => view! { <span>{text}</span> }.erase(),
                }).collect_view()}
            </p>
            <h3>"Delta"</h3>
            <dl class="facts" data-testid="delta">
                <dt>"Severity"</dt>
                <dd data-testid="delta-severity">{format!("{} → {} ({})", c.original.severity, c.replay.severity, arrow(i64::from(d.severity)))}</dd>
                <dt>"Cost"</dt>
                <dd>{format!("{} → {}{}", money(c.original.cost_usd), money(c.replay.cost_usd),
                    d.cost_pct.map(|p| format!(" ({p:+.1}%)")).unwrap_or_default())}</dd>
                <dt>"Latency"</dt>
                <dd>{format!("{} → {}",
                    c.original.latency_ms.map_or("—".into(), |l| format!("{l} ms")),
                    c.replay.latency_ms.map_or("—".into(), |l| format!("{l} ms")))}</dd>
                <dt>"Determinism"</dt>
                <dd data-testid="determinism">{format!("{determinism} over {} run(s)", d.runs)}</dd>
            </dl>
        </div>
    }
}

#[component]
fn PromoteCard(policy_id: String, version: RwSignal<String>) -> impl IntoView {
    let promote = ServerAction::<PromoteVersion>::new();
    let undo = ServerAction::<UndoPolicyChange>::new();
    let state = Resource::new(
        move || (promote.version().get(), undo.version().get()),
        |_| load_policy_state(),
    );
    let note = latest_outcome(vec![promote.value(), undo.value()]);
    let asking = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(FormOutcome { ok: true, .. })) = promote.value().get() {
            asking.set(false);
        }
    });
    let p = policy_id.clone();
    view! {
        <section class="card" aria-labelledby="promote-heading" data-testid="promote-card">
            <h2 id="promote-heading">"Versions of " {policy_id.clone()}</h2>
            <div class="actions-row">
                <button type="button" class="button primary" data-testid="promote"
                    on:click=move |_| { promote.value().set(None); asking.set(true) }>
                    {move || format!("Promote {} to all tenants", version.get())}
                </button>
            </div>
            {move || asking.get().then(|| {
                let p = p.clone();
                on_demand(move || promote_dialog(p.clone(), version, promote, asking))
            })}
            <Outcome action_value=note testid="promote-note" />
            {async_view(
                move || async move { state.await },
                move |s: PolicyPage| view! { <PolicyVersions html=s.html undo /> },
            )}
        </section>
    }
}

/// Shown after "Promote": its code is fetched on the first click.
#[lazy]
fn promote_dialog(
    p: String,
    version: RwSignal<String>,
    promote: ServerAction<PromoteVersion>,
    asking: RwSignal<bool>,
) -> AnyView {
    view! {
        <ConfirmDialog title=format!("Promote {} {} to all tenants?", p, version.get_untracked())
            testid="promote-dialog" on_close=move |()| asking.set(false)>
            <p>{format!("Every tenant will run {} {}; tenants pinned to another version lose their pin.", p, version.get_untracked())}</p>
            <ActionForm action=promote attr:class="settings-form">
                <input type="hidden" name="policy_id" value=p.clone() />
                <input type="hidden" name="version" value=version.get_untracked() />
                <ReasonField id="promote-reason" />
                <Outcome action_value=promote.value() testid="promote-outcome" />
                <div class="actions">
                    <button type="button" class="button" on:click=move |_| asking.set(false)>"Cancel"</button>
                    <button type="submit" class="button danger" data-testid="confirm-promote">"Promote"</button>
                </div>
            </ActionForm>
        </ConfirmDialog>
    }
    .erase()
}

#[component]
fn ShadowCard(policy_id: String, versions: Vec<String>, start: String) -> impl IntoView {
    let candidate = RwSignal::new(start);
    let count = RwSignal::new(50i64);
    let p = policy_id.clone();
    let shadow = Action::new(move |(c, n): &(String, i64)| run_shadow(p.clone(), c.clone(), *n));
    view! {
        <section class="card" aria-labelledby="shadow-heading" data-testid="shadow-card">
            <h2 id="shadow-heading">"Shadow test"</h2>
            <p class="muted small-print">{format!(
                "Run a version of {policy_id} over its latest incidents, each with its own model, before promoting it. Nothing is recorded."
            )}</p>
            <form class="replay-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                shadow.dispatch((candidate.get_untracked(), count.get_untracked()));
            }>
                <label for="shadow-version">"Candidate"</label>
                <select id="shadow-version" on:change=move |ev| candidate.set(event_target_value(&ev))>
                    {versions.iter().map(|v| {
                        let selected = candidate.get_untracked() == *v;
                        view! { <option value=v.clone() selected=selected>{v.clone()}</option> }
                    }).collect_view()}
                </select>
                <label for="shadow-count">"Latest incidents"</label>
                <input id="shadow-count" type="number" min="1" max="500" value="50"
                    on:input=move |ev| count.set(event_target_value(&ev).parse().unwrap_or(50)) />
                <button type="submit" class="button" data-testid="run-shadow" disabled=move || shadow.pending().get()>
                    {move || if shadow.pending().get() { "Running…" } else { "Run shadow test" }}
                </button>
            </form>
            {move || shadow.value().get().map(|r| match r {
                Ok(html) => view! { <Rendered html /> }.erase(),
                Err(e) => view! { <p class="form-outcome bad" role="alert">{e.to_string()}</p> }.erase(),
            })}
        </section>
    }
}

/// A shadow test's answer: what the candidate would have changed.
#[cfg(feature = "ssr")]
#[component]
fn ShadowReportView(s: ShadowReport) -> impl IntoView {
    view! {
        <dl class="facts" data-testid="shadow-report">
            <dt>"Incidents"</dt><dd data-testid="shadow-count">{s.incidents}</dd>
            <dt>"Mean severity"</dt><dd data-testid="shadow-severity">{format!("{:.2} → {:.2}", s.mean_severity_before, s.mean_severity_after)}</dd>
            <dt>"Acceptable answers"</dt><dd>{format!("{} → {} of {}", s.good_before, s.good_after, s.incidents)}</dd>
            <dt>"Severity"</dt><dd>{format!("{} lower, {} same, {} higher", s.better, s.same, s.worse)}</dd>
            <dt>"LLM cost"</dt><dd>{format!("${:.6} → ${:.6}", s.cost_before_usd, s.cost_after_usd)}</dd>
        </dl>
    }
}
