//! Incident Intelligence: "What is breaking and is it systemic?"

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

use crate::components::async_view::{async_view, on_demand};
use crate::components::erase::Erase;
use crate::components::rendered::Rendered;
use crate::components::window::{WindowPicker, Windows};
use crate::model::chart::Drawing;
use crate::model::incidents::{
    window_label, OutputDiff, PolicyState, Regression, DEFAULT_WINDOW, WINDOWS,
};
#[cfg(feature = "ssr")]
use crate::model::incidents::{AttributionShare, Incident, Patterns, Rule, RuleCount};
use crate::pages::infra::{as_of_param, tenant_param};
use crate::pages::pulse::TimedHeader;
use crate::pages::settings::{latest_outcome, FormOutcome, Outcome};

#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn load_patterns(
    as_of: Option<DateTime<Utc>>,
    hours: i32,
    tenant: Option<Uuid>,
) -> Result<PatternsPage, ServerFnError> {
    use crate::server::{analytics, session};
    session::require_operator().await?;
    let state = session::state()?;
    let hours = crate::components::window::clamp_window(hours, &WINDOWS, DEFAULT_WINDOW);
    analytics::patterns(&state, as_of, hours, tenant)
        .await
        .map(PatternsPage::from)
        .map_err(session::db_error)
}

/// The patterns as the page uses them in the browser: what it acts on (the regressions) as data,
/// the matrix as the chart the server built, and the cards that only show numbers already
/// rendered, by the same components, on the server. The browser then carries neither those
/// cards' view code nor the types behind them, and shows exactly what the server rendered.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PatternsPage {
    pub regressions: Vec<Regression>,
    /// The model × policy heatmap (`None` without incidents).
    pub matrix: Option<Drawing>,
    /// The tenant filter's notice (empty without a filter).
    pub notice: String,
    /// The heatmap card.
    pub heatmap: String,
    /// The attribution, latest incidents and day-over-day cards.
    pub details: String,
}

#[cfg(feature = "ssr")]
impl From<Patterns> for PatternsPage {
    fn from(p: Patterns) -> Self {
        PatternsPage {
            notice: view! { <TenantNotice p=p.clone() /> }.to_html(),
            heatmap: view! { <Heatmap p=p.clone() /> }.to_html(),
            details: view! {
                <AttributionCard shares=p.attribution.clone() rules=p.rules.clone() />
                <RecentIncidents p=p.clone() />
                <DayOverDayCard p=p.clone() />
            }
            .to_html(),
            regressions: p.regressions,
            matrix: crate::server::charts::incident_matrix(&p.matrix),
        }
    }
}

#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn load_policy_state() -> Result<PolicyPage, ServerFnError> {
    use crate::server::{incidents, session};
    session::require_operator().await?;
    let state = session::state()?;
    let policies = session::read(&state.pool, || incidents::policy_state(&state.pool)).await?;
    Ok(PolicyPage {
        html: view! { <PolicyTables s=policies.clone() /> }.to_html(),
        state: policies,
    })
}

/// The policy versions as the pages use them in the browser: the state that the regression cards
/// and the Rollback dialog read, and the versions table and change log rendered on the server.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct PolicyPage {
    pub state: PolicyState,
    pub html: String,
}

#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn load_output_diffs(
    policy_id: String,
    before: String,
    after: String,
) -> Result<Vec<OutputDiff>, ServerFnError> {
    use crate::server::{incidents, session};
    session::require_operator().await?;
    let state = session::state()?;
    session::read(&state.pool, || {
        incidents::diff_outputs(&state.pool, &policy_id, &before, &after, 5)
    })
    .await
}

/// Rollback: `scope` is `tenants` (the comma-separated `tenants`) or `all`.
#[server(prefix = "/api/rpc", output = crate::codec::JsonText)]
pub async fn rollback_policy(
    policy_id: String,
    to_version: String,
    scope: String,
    tenants: String,
    reason: String,
) -> Result<FormOutcome, ServerFnError> {
    use crate::server::incidents::{Change, ChangeError};
    use crate::server::{analytics, session};
    let operator = session::require_operator().await?;
    let state = session::state()?;
    let ids: Vec<Uuid> = match tenants
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
    {
        Ok(ids) => ids,
        Err(_) => {
            return Ok(FormOutcome::refused(vec![
                "a tenant id is not a UUID".into()
            ]))
        }
    };
    let scope_tenants = match scope.as_str() {
        "all" => None,
        "tenants" => Some(ids.as_slice()),
        other => {
            return Ok(FormOutcome::refused(vec![format!(
                "unknown scope {other:?}"
            )]))
        }
    };
    let change = Change {
        actor: &operator.email,
        action: "rollback",
        policy_id: &policy_id,
        to_version: &to_version,
        tenants: scope_tenants,
        reason: &reason,
    };
    match analytics::change_version(&state, change).await {
        Ok(id) => Ok(FormOutcome::done(format!(
            "Rolled back: {policy_id} now runs {to_version} for {}. Recorded as change #{id}; undo it from the log below.",
            match scope_tenants {
                Some(t) => format!("{} tenant(s)", t.len()),
                None => "every tenant".into(),
            }
        ))),
        Err(ChangeError::Db(e)) => Err(session::db_error(e)),
        Err(refused) => Ok(FormOutcome::refused(vec![refused.to_string()])),
    }
}

#[server(prefix = "/api/rpc", output = crate::codec::JsonText)]
pub async fn undo_policy_change(id: i64) -> Result<FormOutcome, ServerFnError> {
    use crate::server::incidents::ChangeError;
    use crate::server::{analytics, session};
    let operator = session::require_operator().await?;
    let state = session::state()?;
    match analytics::undo(&state, &operator.email, id).await {
        Ok(new_id) => Ok(FormOutcome::done(format!(
            "Change #{id} undone (recorded as #{new_id}): the versions are back as they were."
        ))),
        Err(ChangeError::Db(e)) => Err(session::db_error(e)),
        Err(refused) => Ok(FormOutcome::refused(vec![refused.to_string()])),
    }
}

const CHOICE: Windows = Windows {
    key: "hours",
    allowed: &WINDOWS,
    default: DEFAULT_WINDOW,
    label: window_label,
};

const MATRIX_ID: &str = "incident-matrix";

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(feature = "ssr")]
fn severity(s: Option<f64>) -> String {
    s.map_or_else(|| "—".into(), |s| format!("{s:.2}"))
}

#[component]
pub fn IncidentsPage() -> impl IntoView {
    let query = use_query_map();
    let as_of = Memo::new(move |_| as_of_param(query.read().get("as_of")));
    let hours = Memo::new(move |_| CHOICE.from_query(&query.read()));
    let tenant = Memo::new(move |_| tenant_param(query.read().get("tenant_id")));
    let data = Resource::new(
        move || (as_of.get(), hours.get(), tenant.get()),
        |(a, h, t)| load_patterns(a, h, t),
    );
    let rollback = ServerAction::<RollbackPolicy>::new();
    let undo = ServerAction::<UndoPolicyChange>::new();
    let policies = Resource::new(
        move || (rollback.version().get(), undo.version().get()),
        |_| load_policy_state(),
    );
    // The policy card answers with whichever action was used last.
    let note = latest_outcome(vec![rollback.value(), undo.value()]);
    let confirming = RwSignal::new(None::<Regression>);
    // A rollback that went through closes its dialog.
    Effect::new(move |_| {
        if let Some(Ok(FormOutcome { ok: true, .. })) = rollback.value().get() {
            confirming.set(None);
        }
    });

    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Ok(p)) = data.get() {
            leptos::task::spawn_local(async move {
                if let Err(e) = crate::components::chart::draw(MATRIX_ID, p.matrix).await {
                    leptos::logging::error!("incident matrix: {e}");
                }
            });
        }
    });

    view! {
        <Title text="Incident Intelligence" />
        <TimedHeader title="Incident Intelligence" question="What is breaking and is it systemic?" as_of />
        <div class="toolbar">
            <WindowPicker path="/incidents" windows=&CHOICE value=hours />
        </div>
        {async_view(
            move || async move { data.await },
            move |p: PatternsPage| {
                view! {
                    <Rendered html=p.notice />
                    <Regressions regressions=p.regressions policies confirming />
                    <Rendered html=p.heatmap />
                }
            },
        )}
        <section class="card" aria-labelledby="matrix-heading">
            <h2 id="matrix-heading">"Model × policy"</h2>
            <p class="muted small-print">"Incidents per model and policy in the window; darker is more."</p>
            // Without incidents there is nothing to draw: a sentence takes the chart's place
            // (style: `.empty-state ~ #incident-matrix` is hidden).
            {async_view(
                move || async move { data.await },
                move |p: PatternsPage| {
                    p.matrix.is_none().then(|| view! {
                        <p class="empty-state" data-testid="matrix-empty">
                            "No incident in this window, so no model or policy to compare."
                        </p>
                    })
                },
            )}
            <div id=MATRIX_ID class="chart" data-testid=MATRIX_ID role="img"
                aria-label="Heatmap of incidents by model and policy"></div>
        </section>
        {async_view(
            move || async move { data.await },
            move |p: PatternsPage| view! { <Rendered html=p.details /> },
        )}
        <section class="card" aria-labelledby="versions-heading" data-testid="policy-versions">
            <h2 id="versions-heading">"Active policy versions"</h2>
            <p class="muted small-print">
                "Which version each tenant runs. Without a pin, tenants run the newest version "
                "the stream shows. Rollback (here) and Promote (Replay Lab) change this; every "
                "change is logged and can be undone."
            </p>
            <Outcome action_value=note testid="policy-outcome" />
            {async_view(
                move || async move { policies.await },
                move |s: PolicyPage| view! { <PolicyVersions html=s.html undo /> },
            )}
        </section>
        {move || confirming.get().map(|r| {
            on_demand(move || rollback_dialog(r.clone(), policies, confirming, rollback))
        })}
    }
}

#[cfg(feature = "ssr")]
#[component]
fn TenantNotice(p: Patterns) -> impl IntoView {
    p.tenant_id.map(|_| {
        view! {
            <p class="notice" data-testid="tenant-filter">
                "Showing the incidents of " <strong>{p.tenant_name.clone().unwrap_or_default()}</strong>
                " and the regressions that reach it. "
                <a href=format!("/incidents?hours={}", p.window_hours)>"Show every tenant"</a>
            </p>
        }
    })
}

#[component]
fn Regressions(
    regressions: Vec<Regression>,
    policies: Resource<Result<PolicyPage, ServerFnError>>,
    confirming: RwSignal<Option<Regression>>,
) -> impl IntoView {
    if regressions.is_empty() {
        return view! {
            <section class="card" aria-labelledby="regressions-heading" data-testid="no-regression">
                <h2 id="regressions-heading">"Regressions"</h2>
                <p class="empty-state">
                    "No regression: no policy version with incidents in this window is markedly "
                    "more severe than the version before it."
                </p>
                <Criteria />
            </section>
        }
        .erase();
    }
    view! {
        <section aria-label="Regressions">
            {regressions
                .into_iter()
                .map(|r| view! { <RegressionCard r policies confirming /> })
                .collect_view()}
        </section>
    }
    .erase()
}

#[component]
fn Criteria() -> impl IntoView {
    use crate::model::incidents::regression::{ALPHA, BASELINE_DAYS, MIN_DELTA, MIN_SAMPLES};
    view! {
        <p class="muted small-print">
            {format!(
                "A regression is a new version of a policy whose incidents average at least {MIN_DELTA} \
                 severity above the previous version's in the {BASELINE_DAYS} days before it appeared, \
                 with at least {MIN_SAMPLES} incidents on each side and a one-sided Welch's t-test below \
                 p = {ALPHA}."
            )}
        </p>
    }
}

#[component]
fn RegressionCard(
    r: Regression,
    policies: Resource<Result<PolicyPage, ServerFnError>>,
    confirming: RwSignal<Option<Regression>>,
) -> impl IntoView {
    let after_rollout = (r.detected_at - r.rollout_at).num_minutes();
    let open_diff = RwSignal::new(false);
    let affected = r.affected_tenants.clone();
    let previous = r.previous_version.clone();
    let policy_id = r.policy_id.clone();
    // How many affected tenants still run the regressed version.
    let still_on = move |s: &PolicyState| {
        let p = s.policies.iter().find(|p| p.policy_id == policy_id);
        affected
            .iter()
            .filter(|t| p.is_none_or(|p| p.version_for(**t) != previous))
            .count()
    };
    let r_dialog = r.clone();
    let title = format!(
        "{} {} → {:+.2} avg severity across {} tenants",
        r.policy_id,
        r.policy_version,
        r.severity_delta,
        r.affected_tenants.len()
    );
    let replay_links: Vec<(String, String)> = r
        .sample_incidents
        .iter()
        .map(|id| {
            (
                format!("/replay/{id}?policy_version={}", r.previous_version),
                id.to_string()[..8].to_owned(),
            )
        })
        .collect();
    let total = r.affected_tenants.len();
    let (previous_now, version_now) = (r.previous_version.clone(), r.policy_version.clone());
    let diff_args = (
        r.policy_id.clone(),
        r.previous_version.clone(),
        r.policy_version.clone(),
    );
    view! {
        <section class="card regression" data-testid="regression"
            data-policy=r.policy_id.clone() data-version=r.policy_version.clone()
            aria-labelledby=format!("regression-{}-{}", r.policy_id, r.policy_version)>
            <h2 id=format!("regression-{}-{}", r.policy_id, r.policy_version) class="regression-title">
                <span aria-hidden="true">"⚠ "</span>"Regression detected: " {title}
            </h2>
            <p data-testid="affected">
                "Affected: "
                {r.affected_tenants
                    .iter()
                    .zip(&r.affected_names)
                    .map(|(id, name)| view! {
                        <a href=format!("/customers/{id}") class="customer-name affected-tenant">{name.clone()}</a>
                        " "
                    })
                    .collect_view()}
            </p>
            <dl class="facts">
                <dt>"Severity"</dt>
                <dd>{format!(
                    "{:.2} over {} incidents of {}, against {:.2} over {} incidents of {} (its last {} days)",
                    r.mean_severity, r.samples, r.policy_version, r.baseline_severity,
                    r.baseline_samples, r.previous_version,
                    crate::model::incidents::regression::BASELINE_DAYS
                )}</dd>
                <dt>"Evidence"</dt>
                <dd>{format!("one-sided Welch's t-test, p = {:.2e}", r.p_value)}</dd>
                <dt>"Rolled out"</dt>
                <dd>{format!("{} (first incident of {})", when(r.rollout_at), r.policy_version)}</dd>
                <dt>"Detectable"</dt>
                <dd data-testid="detected" data-minutes=after_rollout.to_string()>
                    {format!("{} — {after_rollout} min after the rollout", when(r.detected_at))}
                </dd>
                <dt>"Now"</dt>
                <dd data-testid="rollback-state">
                    // Awaited, not read: a plain read of a resource the server streamed after
                    // this card could stay "…" after hydration.
                    <Transition fallback=|| "…">
                        {move || {
                            let (still_on, previous_now, version_now) =
                                (still_on.clone(), previous_now.clone(), version_now.clone());
                            Suspend::new(async move {
                                match policies.await {
                                    Err(_) => "unknown: the policy versions did not load".to_owned(),
                                    Ok(s) => match still_on(&s.state) {
                                        0 => format!("rolled back: every affected tenant runs {previous_now}"),
                                        n => format!("{n} of {total} affected tenants still run {version_now}"),
                                    },
                                }
                            })
                        }}
                    </Transition>
                </dd>
            </dl>
            <div class="actions-row">
                <button type="button" class="button primary" data-testid="rollback"
                    on:click=move |_| confirming.set(Some(r_dialog.clone()))>
                    {format!("Rollback to {}", r.previous_version)}
                </button>
                <details class="inline-details">
                    <summary class="button" data-testid="replay-samples">"Replay Samples"</summary>
                    <p class="muted small-print">
                        {format!("Re-run recent {} incidents under {} in the Replay Lab:", r.policy_version, r.previous_version)}
                    </p>
                    <ul class="sample-links">
                        {replay_links
                            .into_iter()
                            .map(|(href, short)| view! { <li><a href=href>{format!("incident {short}…")}</a></li> })
                            .collect_view()}
                    </ul>
                </details>
                <button type="button" class="button" data-testid="diff-outputs"
                    aria-expanded=move || open_diff.get().to_string()
                    on:click=move |_| open_diff.update(|o| *o = !*o)>
                    "Diff Outputs"
                </button>
            </div>
            {move || open_diff.get().then(|| {
                let diff_args = diff_args.clone();
                on_demand(move || {
                    let (p, b, a) = diff_args.clone();
                    diff_panel(p, b, a)
                })
            })}
            <Criteria />
        </section>
    }
}

/// Shown after "Diff Outputs": its code is fetched on the first click.
#[lazy]
fn diff_panel(policy_id: String, before: String, after: String) -> AnyView {
    view! { <DiffPanel policy_id before after /> }.erase()
}

#[component]
fn DiffPanel(policy_id: String, before: String, after: String) -> impl IntoView {
    let (b, a) = (before.clone(), after.clone());
    let diffs = Resource::new(
        move || (policy_id.clone(), before.clone(), after.clone()),
        |(p, b, a)| load_output_diffs(p, b, a),
    );
    view! {
        <div class="diff-panel" data-testid="diff-panel">
            <h3>{format!("The same questions, answered under {b} and under {a}")}</h3>
            {async_view(
                move || async move { diffs.await },
                move |list: Vec<OutputDiff>| {
                    if list.is_empty() {
                        return view! {
                            <p class="empty-state">"No question was asked under both versions yet."</p>
                        }
                        .erase();
                    }
                    view! {
                        <ul class="diffs">
                            {list
                                .into_iter()
                                .map(|d| view! {
                                    <li data-testid="output-diff">
                                        <p class="diff-question">{format!("“{}”", d.question)}</p>
                                        {d.segments.iter().all(|s| s.0 == '=').then(|| view! {
                                            <p class="muted small-print">"The same answer under both versions:"</p>
                                        })}
                                        <p class="diff-text">
                                            {d.segments
                                                .into_iter()
                                                .map(|(kind, text)| match kind {
                                                    '-' => view! { <del>{text}</del> }.erase(),
                                                    '+' => view! { <ins>{text}</ins> }.erase(),
                                                    _ => view! { <span>{text}</span> }.erase(),
                                                })
                                                .collect_view()}
                                        </p>
                                        <p class="muted small-print">{format!(
                                            "struck: {} (incident {}…); underlined: {} (incident {}…)",
                                            d.before_version, &d.before_incident.to_string()[..8],
                                            d.after_version, &d.after_incident.to_string()[..8]
                                        )}</p>
                                    </li>
                                })
                                .collect_view()}
                        </ul>
                    }
                    .erase()
                },
            )}
        </div>
    }
}

/// Shown after "Rollback": its code is fetched on the first click.
#[lazy]
fn rollback_dialog(
    r: Regression,
    policies: Resource<Result<PolicyPage, ServerFnError>>,
    confirming: RwSignal<Option<Regression>>,
    rollback: ServerAction<RollbackPolicy>,
) -> AnyView {
    view! { <RollbackDialog r policies confirming rollback /> }.erase()
}

#[component]
fn RollbackDialog(
    r: Regression,
    policies: Resource<Result<PolicyPage, ServerFnError>>,
    confirming: RwSignal<Option<Regression>>,
    rollback: ServerAction<RollbackPolicy>,
) -> impl IntoView {
    // A fresh dialog shows no answer from an earlier one.
    rollback.value().set(None);
    let all = RwSignal::new(false);
    let tenants_csv = r
        .affected_tenants
        .iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let (policy_id, previous, version) = (
        r.policy_id.clone(),
        r.previous_version.clone(),
        r.policy_version.clone(),
    );
    let affected: Vec<(Uuid, String)> = r
        .affected_tenants
        .iter()
        .copied()
        .zip(r.affected_names.iter().cloned())
        .collect();
    let changes = {
        let (policy_id, previous) = (policy_id.clone(), previous.clone());
        move |all: bool, state: PolicyState| {
            let p = state
                .policies
                .into_iter()
                .find(|p| p.policy_id == policy_id);
            if all {
                let (default, pins) = p
                    .map(|p| (p.default_version.clone(), p.pins.len()))
                    .unwrap_or_default();
                vec![format!(
                    "Every tenant runs {previous}: the default changes from {default} to {previous}, \
                     and {pins} tenant pin(s) are removed."
                )]
            } else {
                affected
                    .iter()
                    .map(|(id, name)| {
                        let now = p
                            .as_ref()
                            .map_or(version.clone(), |p| p.version_for(*id).to_owned());
                        format!("{name}: {now} → {previous}")
                    })
                    .collect()
            }
        }
    };
    let close = move || confirming.set(None);
    view! {
        <ConfirmDialog title=format!("Roll {policy_id} back to {previous}?") testid="rollback-dialog"
            on_close=move |()| close()>
                <ActionForm action=rollback attr:class="settings-form">
                    <input type="hidden" name="policy_id" value=policy_id.clone() />
                    <input type="hidden" name="to_version" value=previous.clone() />
                    <input type="hidden" name="tenants" value=tenants_csv />
                    <fieldset class="scope">
                        <legend>"For whom"</legend>
                        <label>
                            <input type="radio" name="scope" value="tenants" checked
                                on:change=move |_| all.set(false) />
                            {format!(" Only the {} affected tenants", r.affected_tenants.len())}
                        </label>
                        <label>
                            <input type="radio" name="scope" value="all" data-testid="scope-all"
                                on:change=move |_| all.set(true) />
                            " Every tenant"
                        </label>
                    </fieldset>
                    <p>"What changes:"</p>
                    <ul data-testid="rollback-changes">
                        <Transition fallback=|| view! { <li>"…"</li> }>
                            {move || {
                                let (changes, all) = (changes.clone(), all.get());
                                Suspend::new(async move {
                                    let state = policies.await.map(|p| p.state).unwrap_or_default();
                                    changes(all, state)
                                        .into_iter()
                                        .map(|c| view! { <li>{c}</li> })
                                        .collect_view()
                                })
                            }}
                        </Transition>
                    </ul>
                    <p class="muted small-print">
                        "Other tenants keep the version they run. The change is logged with your "
                        "name and reason, and can be undone."
                    </p>
                    <ReasonField id="rollback-reason" placeholder="e.g. severity up 1.5 since v12" />
                    <Outcome action_value=rollback.value() testid="rollback-outcome" />
                    <div class="actions">
                        <button type="button" class="button" on:click=move |_| close()>"Cancel"</button>
                        <button type="submit" class="button danger" data-testid="confirm-rollback"
                            disabled=move || rollback.pending().get()>
                            {move || if rollback.pending().get() { "Rolling back…".to_owned() } else { format!("Roll back to {}", r.previous_version) }}
                        </button>
                    </div>
                </ActionForm>
        </ConfirmDialog>
    }
}

/// A modal confirmation: Escape or its Cancel button (in `children`) closes it.
#[component]
pub fn ConfirmDialog(
    title: String,
    testid: &'static str,
    #[prop(into)] on_close: Callback<()>,
    children: Children,
) -> impl IntoView {
    let (title_id, labelled_by) = (format!("{testid}-title"), format!("{testid}-title"));
    view! {
        <div class="dialog-backdrop">
            <div class="dialog card" role="dialog" aria-modal="true" aria-labelledby=labelled_by
                data-testid=testid
                on:keydown=move |ev| if ev.key() == "Escape" { on_close.run(()) }>
                <h2 id=title_id>{title}</h2>
                {children()}
            </div>
        </div>
    }
}

/// The required "Why" of a change. It takes the focus when its dialog opens, so keyboard users
/// land in the dialog, where Escape closes it.
#[component]
pub fn ReasonField(id: &'static str, #[prop(optional)] placeholder: &'static str) -> impl IntoView {
    let field = NodeRef::<leptos::html::Textarea>::new();
    Effect::new(move |_| {
        if let Some(f) = field.get() {
            // On the next frame: a dialog whose code was just fetched is mounted after its
            // effects first run, and a field not yet in the page cannot take the focus.
            request_animation_frame(move || {
                let _ = f.focus();
            });
        }
    });
    view! {
        <div class="field">
            <label for=id>"Why"</label>
            <textarea id=id name="reason" required rows="2" node_ref=field placeholder=placeholder></textarea>
        </div>
    }
}

/// The versions table and change log the server rendered (`PolicyPage`). Their Undo buttons are
/// plain forms posting to the server function, as `ActionForm` renders them; this one listener
/// sends them through `undo` instead, so the page updates in place.
#[component]
pub fn PolicyVersions(html: String, undo: ServerAction<UndoPolicyChange>) -> impl IntoView {
    let send = move |ev: leptos::ev::SubmitEvent| {
        let form: leptos::web_sys::Element = event_target(&ev);
        if let Some(id) = form
            .get_attribute("data-undo")
            .and_then(|id| id.parse().ok())
        {
            ev.prevent_default();
            undo.dispatch(UndoPolicyChange { id });
        }
    };
    view! { <div class="rendered" on:submit=send inner_html=html></div> }
}

/// Active versions of every policy and the change log with its Undo buttons.
#[cfg(feature = "ssr")]
#[component]
fn PolicyTables(s: PolicyState) -> impl IntoView {
    let undo_path = <UndoPolicyChange as server_fn::ServerFn>::PATH;
    if s.policies.is_empty() {
        return view! {
            <p class="empty-state">"No policy versions yet: they appear with the first incidents."</p>
        }
        .erase();
    }
    view! {
        <div class="table-wrap">
            <table class="events" data-testid="active-versions">
                <thead><tr>
                    <th scope="col">"Policy"</th>
                    <th scope="col">"Every tenant"</th>
                    <th scope="col">"Tenants with their own version"</th>
                    <th scope="col">"Versions seen"</th>
                </tr></thead>
                <tbody>
                    {s.policies
                        .into_iter()
                        .map(|p| view! {
                            <tr data-testid="active-version" data-policy=p.policy_id.clone()>
                                <th scope="row">{p.policy_id.clone()}</th>
                                <td data-testid="default-version">
                                    {p.default_version.clone()}
                                    <span class="muted small-print">
                                        {if p.default_pinned { " (pinned)" } else { " (newest, not pinned)" }}
                                    </span>
                                </td>
                                <td data-testid="pins">
                                    {if p.pins.is_empty() { "—".to_owned() } else {
                                        p.pins.iter().map(|t| format!("{}: {}", t.tenant_name, t.version)).collect::<Vec<_>>().join(", ")
                                    }}
                                </td>
                                <td>{p.versions.join(", ")}</td>
                            </tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        <h3>"Change log"</h3>
        {if s.audit.is_empty() {
            view! { <p class="empty-state" data-testid="audit-empty">"No change yet."</p> }.erase()
        } else {
            view! {
                <div class="table-wrap">
                    <table class="events" data-testid="audit-log">
                        <thead><tr>
                            <th scope="col">"#"</th>
                            <th scope="col">"When"</th>
                            <th scope="col">"Who"</th>
                            <th scope="col">"What"</th>
                            <th scope="col">"For"</th>
                            <th scope="col">"Why"</th>
                            <th scope="col"><span class="hidden">"Undo"</span></th>
                        </tr></thead>
                        <tbody>
                            {s.audit
                                .into_iter()
                                .map(|a| {
                                    let whom = if a.tenant_ids.is_empty() { "every tenant".to_owned() } else { a.tenant_names.join(", ") };
                                    let state = match (a.undone_by, a.undoes) {
                                        (Some(by), _) => format!(" (undone by #{by})"),
                                        (None, Some(of)) => format!(" (undoes #{of})"),
                                        _ => String::new(),
                                    };
                                    view! {
                                        <tr data-testid="audit-entry" data-action=a.action.clone()>
                                            <td class="num">{a.id}</td>
                                            <td><time datetime=a.at.to_rfc3339()>{when(a.at)}</time></td>
                                            <td>{a.actor.clone()}</td>
                                            <td>{format!("{} {}: {} → {}{state}", a.action, a.policy_id, a.from_version, a.to_version)}</td>
                                            <td>{whom}</td>
                                            <td>{a.reason.clone()}</td>
                                            <td>
                                                {a.undoable.then(|| view! {
                                                    <form method="post" action=undo_path data-undo=a.id.to_string()>
                                                        <input type="hidden" name="id" value=a.id.to_string() />
                                                        <button type="submit" class="button" data-testid="undo">"Undo"</button>
                                                    </form>
                                                })}
                                            </td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                </div>
            }
            .erase()
        }}
    }
    .erase()
}

#[cfg(feature = "ssr")]
#[component]
fn ShareBar(label: String, pct: f64, detail: String) -> impl IntoView {
    view! {
        <li class="share">
            <span class="share-label">{label}</span>
            <span class="meter" aria-hidden="true"><span class="bar" style=format!("width: {pct}%")></span></span>
            <span class="share-pct num">{format!("{pct:.1}%")}</span>
            <span class="muted small-print share-detail">{detail}</span>
        </li>
    }
}

/// One side of the heatmap: `(name, incidents, share, mean severity)` per row.
#[cfg(feature = "ssr")]
#[component]
fn ShareList(
    title: &'static str,
    testid: &'static str,
    items: Vec<(String, i64, f64, Option<f64>)>,
) -> impl IntoView {
    view! {
        <div>
            <h3>{title}</h3>
            <ul class="shares" data-testid=testid>
                {items
                    .into_iter()
                    .map(|(label, count, pct, avg)| view! {
                        <ShareBar label pct detail=format!("{count} incidents · avg severity {}", severity(avg)) />
                    })
                    .collect_view()}
            </ul>
        </div>
    }
}

#[cfg(feature = "ssr")]
#[component]
fn Heatmap(p: Patterns) -> impl IntoView {
    if p.total == 0 {
        return view! {
            <section class="card" data-testid="incidents-empty">
                <h2>"Incident heatmap"</h2>
                <p class="empty-state">{format!(
                    "No incident in the {}. Nothing is breaking, or nothing is reporting: the Events page shows what arrives.",
                    window_label(p.window_hours).to_lowercase()
                )}</p>
            </section>
        }
        .erase();
    }
    view! {
        <section class="card" aria-labelledby="heatmap-heading">
            <h2 id="heatmap-heading">{format!("Incident heatmap · {} incidents", p.total)}</h2>
            <div class="two-col">
                <ShareList title="By model" testid="by-model"
                    items=p.by_model.into_iter().map(|m| (m.model, m.incident_count, m.pct, m.avg_severity)).collect() />
                <ShareList title="By policy" testid="by-policy"
                    items=p.by_policy.into_iter().map(|m| (m.policy_id, m.incident_count, m.pct, m.avg_severity)).collect() />
            </div>
        </section>
    }
    .erase()
}

#[cfg(feature = "ssr")]
#[component]
fn AttributionCard(shares: Vec<AttributionShare>, rules: Vec<RuleCount>) -> impl IntoView {
    if shares.is_empty() {
        return ().erase();
    }
    view! {
        <section class="card" aria-labelledby="attribution-heading">
            <h2 id="attribution-heading">"Failure attribution"</h2>
            <p class="muted small-print">
                "Every incident is put in exactly one of six classes: the guard's own class when it "
                "sent a valid one, else the first rule below that holds."
            </p>
            <ul class="shares" data-testid="attribution">
                {shares
                    .into_iter()
                    .map(|a| view! {
                        <ShareBar label=a.attribution.label().to_owned() pct=a.pct detail=format!("{} incidents", a.count) />
                    })
                    .collect_view()}
            </ul>
            <h3>"Decided by"</h3>
            <table class="events" data-testid="rules">
                <thead><tr><th scope="col">"Rule, in the order tried"</th><th scope="col" class="num">"Incidents"</th></tr></thead>
                <tbody>
                    {Rule::ORDER
                        .into_iter()
                        .map(|rule| {
                            let n = rules.iter().find(|r| r.rule == rule).map_or(0, |r| r.count);
                            view! { <tr><td>{rule.explain()}</td><td class="num">{n}</td></tr> }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
    .erase()
}

#[cfg(feature = "ssr")]
#[component]
fn RecentIncidents(p: Patterns) -> impl IntoView {
    if p.recent.is_empty() {
        return ().erase();
    }
    let shown = p.recent.len();
    view! {
        <section class="card" aria-labelledby="recent-heading">
            <h2 id="recent-heading">{format!("Latest incidents ({shown} of {})", p.total)}</h2>
            <div class="table-wrap">
                <table class="events" data-testid="recent-incidents">
                    <thead><tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Tenant"</th>
                        <th scope="col">"Model"</th>
                        <th scope="col">"Policy"</th>
                        <th scope="col">"Version"</th>
                        <th scope="col" class="num">"Severity"</th>
                        <th scope="col">"Attribution"</th>
                        <th scope="col"><span class="hidden">"Replay"</span></th>
                    </tr></thead>
                    <tbody>
                        {p.recent.into_iter().map(|i: Incident| view! {
                            <tr data-testid="incident-row">
                                <td><time datetime=i.at.to_rfc3339()>{when(i.at)}</time></td>
                                <td><a href=format!("/customers/{}", i.tenant_id)>{i.tenant_name.clone()}</a></td>
                                <td>{i.model.clone()}</td>
                                <td>{i.policy_id.clone()}</td>
                                <td>{i.policy_version.clone()}</td>
                                <td class="num">{i.severity.map(|s| s.to_string()).unwrap_or_else(|| "—".into())}</td>
                                <td>
                                    {i.attribution.label()}
                                    <div class="muted small-print">{i.rule.explain()}</div>
                                </td>
                                <td><a class="button" href=format!("/replay/{}", i.incident_id)>"Replay"</a></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
    .erase()
}

#[cfg(feature = "ssr")]
#[component]
fn DayOverDayCard(p: Patterns) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="dod-heading">
            <h2 id="dod-heading">"Day over day (last 7 days)"</h2>
            <p class="muted small-print">
                "The spec's view: a policy's mean severity on a UTC day against the day before, "
                "where it rose by more than 0.5. It mixes versions and waits for a whole day, so "
                "the version comparison above is what raises regressions."
            </p>
            {if p.day_over_day.is_empty() {
                view! { <p class="empty-state">"No policy rose by more than 0.5 from one day to the next."</p> }.erase()
            } else {
                view! {
                    <table class="events" data-testid="day-over-day">
                        <thead><tr>
                            <th scope="col">"Day"</th><th scope="col">"Policy"</th>
                            <th scope="col" class="num">"Avg severity"</th><th scope="col" class="num">"Change"</th>
                            <th scope="col" class="num">"Incidents"</th>
                        </tr></thead>
                        <tbody>
                            {p.day_over_day.into_iter().map(|d| view! {
                                <tr>
                                    <td>{d.day.format("%Y-%m-%d").to_string()}</td>
                                    <td>{d.policy_id}</td>
                                    <td class="num">{format!("{:.2}", d.avg_severity)}</td>
                                    <td class="num">{format!("{:+.2}", d.severity_delta)}</td>
                                    <td class="num">{d.incidents}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.erase()
            }}
        </section>
    }
}
