//! Alert settings: the thresholds the pulse and its alerts use, and the webhooks that hear
//! about every change.

use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use crate::components::async_view::async_view;
use crate::components::erase::Erase;
use crate::model::alerts::{AlertSettings, Webhook, THRESHOLD_FIELDS};

/// What a settings form did: `ok` and a sentence, or every problem with what was sent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FormOutcome {
    pub ok: bool,
    pub messages: Vec<String>,
}

impl FormOutcome {
    pub fn done(message: impl Into<String>) -> Self {
        FormOutcome {
            ok: true,
            messages: vec![message.into()],
        }
    }

    pub fn refused(messages: Vec<String>) -> Self {
        FormOutcome {
            ok: false,
            messages,
        }
    }
}

#[server(prefix = "/api/rpc", output = crate::codec::JsonText)]
pub async fn load_alert_settings() -> Result<AlertSettings, ServerFnError> {
    use crate::server::{alerts, session};
    session::require_operator().await?;
    let pool = session::state()?.pool;
    Ok(AlertSettings {
        thresholds: alerts::thresholds(&pool).await.map_err(session::db_error)?,
        webhooks: alerts::webhooks(&pool).await.map_err(session::db_error)?,
    })
}

/// Evaluates alerts at once, so a change of threshold is heard about now, not at the next tick.
#[cfg(feature = "ssr")]
async fn evaluate_now(state: &crate::server::state::AppState) {
    match crate::server::alerts::evaluate(&state.pool, chrono::Utc::now()).await {
        Ok(raised) if !raised.is_empty() => state.alert_wake.notify_one(),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not evaluate alerts"),
    }
}

#[server(prefix = "/api/rpc", output = crate::codec::JsonText)]
pub async fn save_thresholds(
    tenant_drop_pct: String,
    incident_spike_pct: String,
    replay_drop_pct: String,
    export_drop_pct: String,
    llm_failure_rate: String,
    infra_saturation: String,
) -> Result<FormOutcome, ServerFnError> {
    use crate::model::pulse::Thresholds;
    use crate::server::{alerts, session};
    let operator = session::require_operator().await?;
    let state = session::state()?;
    let fields: Vec<(String, String)> = [
        ("tenant_drop_pct", tenant_drop_pct),
        ("incident_spike_pct", incident_spike_pct),
        ("replay_drop_pct", replay_drop_pct),
        ("export_drop_pct", export_drop_pct),
        ("llm_failure_rate", llm_failure_rate),
        ("infra_saturation", infra_saturation),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let thresholds = match Thresholds::from_form(&fields) {
        Ok(t) => t,
        Err(problems) => return Ok(FormOutcome::refused(problems)),
    };
    alerts::save_thresholds(&state.pool, &thresholds, &operator.email)
        .await
        .map_err(session::db_error)?;
    evaluate_now(&state).await;
    Ok(FormOutcome::done(
        "Saved. The pulse and its alerts use these thresholds from now on.",
    ))
}

#[server(prefix = "/api/rpc", output = crate::codec::JsonText)]
pub async fn add_webhook(url: String) -> Result<FormOutcome, ServerFnError> {
    use crate::server::{alerts, session};
    session::require_operator().await?;
    let state = session::state()?;
    match alerts::add_webhook(&state.pool, &url).await {
        Ok(_) => Ok(FormOutcome::done(
            "Webhook added: it hears about every alert raised from now on.",
        )),
        Err(alerts::WebhookError::Db(e)) => Err(session::db_error(e)),
        Err(refused) => Ok(FormOutcome::refused(vec![refused.to_string()])),
    }
}

#[server(prefix = "/api/rpc", output = crate::codec::JsonText)]
pub async fn remove_webhook(id: i64) -> Result<FormOutcome, ServerFnError> {
    use crate::server::{alerts, session};
    session::require_operator().await?;
    let state = session::state()?;
    let removed = alerts::remove_webhook(&state.pool, id)
        .await
        .map_err(session::db_error)?;
    Ok(if removed {
        FormOutcome::done("Webhook removed; messages still waiting for it were given up.")
    } else {
        FormOutcome::refused(vec!["That webhook was already removed.".into()])
    })
}

#[server(prefix = "/api/rpc", output = crate::codec::JsonText)]
pub async fn test_webhook(id: i64) -> Result<FormOutcome, ServerFnError> {
    use crate::model::alerts::mask_url;
    use crate::server::{alerts, session};
    session::require_operator().await?;
    let state = session::state()?;
    let Some(url) = alerts::webhook_url(&state.pool, id)
        .await
        .map_err(session::db_error)?
    else {
        return Ok(FormOutcome::refused(vec![
            "That webhook was removed.".into()
        ]));
    };
    let payload = serde_json::json!({
        "text": "Ops Console: test message. Alerts will arrive here.",
        "alert": null,
    });
    Ok(
        match alerts::post(&reqwest::Client::new(), &url, &payload).await {
            Ok(()) => FormOutcome::done(format!("{} took the test message.", mask_url(&url))),
            Err(e) => FormOutcome::refused(vec![format!("{}: {e}", mask_url(&url))]),
        },
    )
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let save = ServerAction::<SaveThresholds>::new();
    let add = ServerAction::<AddWebhook>::new();
    let remove = ServerAction::<RemoveWebhook>::new();
    let test = ServerAction::<TestWebhook>::new();
    // The webhooks card answers with whichever of its forms was used last.
    let webhook_note = latest_outcome(vec![add.value(), remove.value(), test.value()]);
    let settings = Resource::new(
        move || {
            (
                save.version().get(),
                add.version().get(),
                remove.version().get(),
            )
        },
        |_| load_alert_settings(),
    );
    view! {
        <Title text="Alert settings" />
        <header class="page-header">
            <h1>"Alert settings"</h1>
            <p class="question">"When should the console tell me, and where?"</p>
        </header>
        <section class="card" aria-labelledby="thresholds-heading">
            <h2 id="thresholds-heading">"Thresholds"</h2>
            <p class="muted small-print">
                "The System Pulse marks a card crossed, and changes state, past these values. "
                "Each change of state and each crossing (either way) is one alert."
            </p>
            {async_view(
                move || async move { settings.await },
                move |s: AlertSettings| {
                    view! {
                        <ActionForm action=save attr:class="settings-form" attr:data-testid="thresholds-form">
                            {THRESHOLD_FIELDS
                                .iter()
                                .map(|f| {
                                    let id = format!("threshold-{}", f.key);
                                    let help_id = format!("{id}-help");
                                    view! {
                                        <div class="field">
                                            <label for=id.clone()>{f.label}</label>
                                            <span class="with-unit">
                                                <input id=id type="number" name=f.key step="any" min="0"
                                                    required inputmode="decimal"
                                                    value=s.thresholds.percent(f).to_string()
                                                    aria-describedby=help_id.clone() />
                                                <span aria-hidden="true">"%"</span>
                                            </span>
                                            <span class="hint" id=help_id>{f.help}</span>
                                        </div>
                                    }
                                })
                                .collect_view()}
                            <div class="actions">
                                <button type="submit" class="button primary" disabled=move || save.pending().get()>
                                    {move || if save.pending().get() { "Saving…" } else { "Save thresholds" }}
                                </button>
                            </div>
                        </ActionForm>
                    }
                },
            )}
            <Outcome action_value=save.value() testid="thresholds-outcome" />
        </section>
        <section class="card" aria-labelledby="webhooks-heading">
            <h2 id="webhooks-heading">"Webhooks"</h2>
            <p class="muted small-print">
                "Each alert is sent as JSON with a Slack-compatible " <code>"text"</code>
                " field, so a Slack incoming-webhook address works as it is. Failed sends are "
                "retried with growing waits."
            </p>
            {async_view(
                move || async move { settings.await },
                move |s: AlertSettings| view! { <WebhookList webhooks=s.webhooks remove test /> },
            )}
            <ActionForm action=add attr:class="webhook-add" attr:data-testid="webhook-form">
                <label for="webhook-url">"Add a webhook"</label>
                <input id="webhook-url" type="url" name="url" required
                    placeholder="https://hooks.slack.com/services/…" autocomplete="off" />
                <button type="submit" class="button primary" disabled=move || add.pending().get()>"Add"</button>
            </ActionForm>
            <Outcome action_value=webhook_note testid="webhooks-outcome" />
        </section>
    }
}

#[component]
fn WebhookList(
    webhooks: Vec<Webhook>,
    remove: ServerAction<RemoveWebhook>,
    test: ServerAction<TestWebhook>,
) -> impl IntoView {
    if webhooks.is_empty() {
        return view! {
            <p class="empty-state" data-testid="no-webhooks">
                "No webhook yet: alerts are listed on the System Pulse but sent nowhere."
            </p>
        }
        .erase();
    }
    view! {
        <ul class="webhooks" data-testid="webhooks">
            {webhooks
                .into_iter()
                .map(|w| {
                    let added = format!("added {}", w.created_at.format("%b %d, %H:%M UTC"));
                    let test_label = format!("Send a test message to {}", w.shown_url);
                    let remove_label = format!("Remove {}", w.shown_url);
                    view! {
                        <li>
                            <code>{w.shown_url}</code>
                            <span class="muted">{added}</span>
                            <ActionForm action=test>
                                <input type="hidden" name="id" value=w.id.to_string() />
                                <button type="submit" class="button"
                                    aria-label=test_label>
                                    "Send test"
                                </button>
                            </ActionForm>
                            <ActionForm action=remove>
                                <input type="hidden" name="id" value=w.id.to_string() />
                                <button type="submit" class="button danger"
                                    aria-label=remove_label>
                                    "Remove"
                                </button>
                            </ActionForm>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .erase()
}

/// The last answer of whichever of `answers` (actions' values) came last: one note for a card
/// with several forms.
pub fn latest_outcome(
    answers: Vec<MappedSignal<Option<Result<FormOutcome, ServerFnError>>>>,
) -> RwSignal<Option<Result<FormOutcome, ServerFnError>>> {
    let note = RwSignal::new(None);
    for value in answers {
        Effect::new(move |_| {
            if let Some(outcome) = value.get() {
                note.set(Some(outcome));
            }
        });
    }
    note
}

/// What the last submission of a form did, announced to screen readers.
#[component]
pub fn Outcome(
    #[prop(into)] action_value: Signal<Option<Result<FormOutcome, ServerFnError>>>,
    testid: &'static str,
) -> impl IntoView {
    move || {
        action_value.get().map(|result| match result {
            Ok(FormOutcome { ok: true, messages }) => view! {
                <p class="form-outcome ok" role="status" data-testid=testid>{messages.join(" ")}</p>
            }
            .erase(),
            Ok(FormOutcome { messages, .. }) => view! {
                <div class="form-outcome bad" role="alert" data-testid=testid>
                    <ul>{messages.into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
                </div>
            }
            .erase(),
            Err(e) => view! { <crate::components::async_view::ErrorPanel error=e /> }.erase(),
        })
    }
}
