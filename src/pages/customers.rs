//! Customer Intelligence: "Who is this customer and are they slipping?"

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::components::async_view::async_view;
use crate::components::erase::Erase;
use crate::model::customers::{trend_arrow, ChurnRisk, Customer, Customers, Intent};
use crate::pages::infra::as_of_param;
use crate::pages::pulse::TimedHeader;

#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn load_customers(as_of: Option<DateTime<Utc>>) -> Result<Customers, ServerFnError> {
    use crate::server::{analytics, session};
    session::require_operator().await?;
    let state = session::state()?;
    analytics::customers(&state, as_of)
        .await
        .map_err(session::db_error)
}

/// The columns the list can be sorted by, as they appear in the address (`?sort=`).
const SORTS: [(&str, &str); 6] = [
    ("name", "Customer"),
    ("day", "Subscription"),
    ("intent", "Intent"),
    ("stickiness", "Stickiness"),
    ("risk", "Churn risk"),
    ("silence", "Last investigation"),
];

/// What the address asks of the list: a name search, an intent, a risk, and an order.
#[derive(Clone, Debug, PartialEq, Default)]
struct ListQuery {
    q: String,
    intent: Option<Intent>,
    risk: Option<ChurnRisk>,
    sort: Option<String>,
    descending: bool,
}

impl ListQuery {
    fn from_query(query: &ParamsMap) -> Self {
        ListQuery {
            q: query.get("q").unwrap_or_default().trim().to_owned(),
            intent: query.get("intent").as_deref().and_then(Intent::parse),
            risk: query.get("risk").as_deref().and_then(ChurnRisk::parse),
            sort: query
                .get("sort")
                .filter(|s| SORTS.iter().any(|(k, _)| k == s)),
            descending: query.get("dir").as_deref() == Some("desc"),
        }
    }

    fn apply(&self, mut list: Vec<Customer>) -> Vec<Customer> {
        let needle = self.q.to_lowercase();
        list.retain(|c| {
            (needle.is_empty() || c.tenant_name.to_lowercase().contains(&needle))
                && self.intent.is_none_or(|i| c.inferred_intent == i)
                && self.risk.is_none_or(|r| c.churn_risk == r)
        });
        if let Some(sort) = &self.sort {
            list.sort_by(|a, b| {
                let order = match sort.as_str() {
                    "name" => a.tenant_name.cmp(&b.tenant_name),
                    "day" => a.day.cmp(&b.day),
                    "intent" => a.inferred_intent.cmp(&b.inferred_intent),
                    "stickiness" => a.stickiness_score.total_cmp(&b.stickiness_score),
                    "risk" => a.churn_risk.cmp(&b.churn_risk),
                    _ => a.days_silent.cmp(&b.days_silent),
                };
                let order = order.then_with(|| a.tenant_name.cmp(&b.tenant_name));
                if self.descending {
                    order.reverse()
                } else {
                    order
                }
            });
        }
        list
    }

    /// The address of this list sorted by `key`, flipping the direction when it already is.
    fn sorted_by(&self, key: &str, as_of: Option<&str>) -> String {
        let descending = self.sort.as_deref() == Some(key) && !self.descending;
        let mut params = vec![format!("sort={key}")];
        if descending {
            params.push("dir=desc".into());
        }
        if !self.q.is_empty() {
            params.push(format!("q={}", crate::model::urlencode(&self.q)));
        }
        if let Some(i) = self.intent {
            params.push(format!("intent={}", crate::model::urlencode(i.label())));
        }
        if let Some(r) = self.risk {
            params.push(format!("risk={}", r.label()));
        }
        if let Some(t) = as_of {
            params.push(format!("as_of={}", crate::model::urlencode(t)));
        }
        format!("/customers?{}", params.join("&"))
    }
}

/// "2.3 hours" under two days, else "3.5 days"; `missing` when there is nothing.
pub fn hours_text(h: Option<f64>, missing: &str) -> String {
    match h {
        None => missing.to_owned(),
        Some(h) if h < 48.0 => format!("{h:.1} hours"),
        Some(h) => format!("{:.1} days", h / 24.0),
    }
}

pub fn ago(as_of: DateTime<Utc>, t: Option<DateTime<Utc>>) -> String {
    match t {
        None => "never".into(),
        Some(t) => {
            let hours = (as_of - t).num_hours();
            if hours < 1 {
                "within the hour".into()
            } else if hours < 48 {
                format!("{hours} h ago")
            } else {
                format!("{} days ago", hours / 24)
            }
        }
    }
}

fn risk_class(r: ChurnRisk) -> &'static str {
    match r {
        ChurnRisk::High => "risk high",
        ChurnRisk::Medium => "risk medium",
        ChurnRisk::Low => "risk low",
    }
}

#[component]
pub fn CustomersPage() -> impl IntoView {
    let query = use_query_map();
    let as_of = Memo::new(move |_| as_of_param(query.read().get("as_of")));
    let list_query = Memo::new(move |_| ListQuery::from_query(&query.read()));
    let data = Resource::new(move || as_of.get(), load_customers);
    view! {
        <Title text="Customer Intelligence" />
        <TimedHeader title="Customer Intelligence" question="Who is this customer and are they slipping?" as_of />
        {async_view(
            move || async move { data.await },
            move |all: Customers| {
                let as_of_text = query.read_untracked().get("as_of");
                let lq = list_query.get();
                let total = all.customers.len();
                let silent: Vec<Customer> = all.customers.iter().filter(|c| c.silent_churn).cloned().collect();
                let shown = lq.apply(all.customers);
                view! {
                    <Interventions silent as_of=all.as_of />
                    <section class="card" aria-labelledby="customers-heading">
                        <h2 id="customers-heading">"Every customer"</h2>
                        <Filters lq=lq.clone() as_of=as_of_text.clone() />
                        <p class="muted small-print" data-testid="customers-count">
                            {format!("{} of {total} customers", shown.len())}
                        </p>
                        <CustomerTable customers=shown total lq as_of=all.as_of as_of_text />
                    </section>
                }
            },
        )}
    }
}

/// The intervention moments: customers whose API is in use but who stopped investigating.
#[component]
fn Interventions(silent: Vec<Customer>, as_of: DateTime<Utc>) -> impl IntoView {
    if silent.is_empty() {
        return view! {
            <section class="card status ok" data-testid="interventions">
                <p class="status-line">"No silent churn: every customer using the API has investigated in the last 7 days."</p>
            </section>
        }
        .erase();
    }
    let count = silent.len();
    view! {
        <section class="card status bad" data-testid="interventions" aria-labelledby="interventions-heading">
            <h2 id="interventions-heading">
                {format!("Intervention moments: {count} customer{} went silent", if count == 1 { "" } else { "s" })}
            </h2>
            <p class="muted">"API calls continue, but nobody has looked at an incident for over a week. Reach out before they cancel."</p>
            <ul class="interventions">
                {silent
                    .into_iter()
                    .map(|c| {
                        let href = format!("/customers/{}", c.tenant_id);
                        let days = c.days_silent.unwrap_or_default();
                        view! {
                            <li>
                                <a href=href>{c.tenant_name}</a>
                                <span>{format!(" — silent for {days} days")}</span>
                                <span class="muted">{format!(" · API {} · {}", ago(as_of, c.last_api_call), c.inferred_intent.label())}</span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
    .erase()
}

#[component]
fn Filters(lq: ListQuery, as_of: Option<String>) -> impl IntoView {
    view! {
        <Form method="GET" action="/customers" attr:class="filters" attr:aria-label="Filter customers">
            <label>
                "Search by name"
                <input type="search" name="q" value=lq.q.clone() placeholder="acme" />
            </label>
            <label>
                "Intent"
                <select name="intent">
                    <option value="" selected=lq.intent.is_none()>"Any intent"</option>
                    {Intent::ALL
                        .iter()
                        .map(|i| view! { <option value=i.label() selected=lq.intent == Some(*i)>{i.label()}</option> })
                        .collect_view()}
                </select>
            </label>
            <label>
                "Churn risk"
                <select name="risk">
                    <option value="" selected=lq.risk.is_none()>"Any risk"</option>
                    {[ChurnRisk::High, ChurnRisk::Medium, ChurnRisk::Low]
                        .iter()
                        .map(|r| view! { <option value=r.label() selected=lq.risk == Some(*r)>{r.label()}</option> })
                        .collect_view()}
                </select>
            </label>
            {as_of.map(|t| view! { <input type="hidden" name="as_of" value=t /> })}
            <div class="actions">
                <button type="submit" class="button primary">"Apply"</button>
                <a href="/customers" class="button subtle">"Clear"</a>
            </div>
        </Form>
    }
}

#[component]
fn CustomerTable(
    customers: Vec<Customer>,
    total: usize,
    lq: ListQuery,
    as_of: DateTime<Utc>,
    as_of_text: Option<String>,
) -> impl IntoView {
    if customers.is_empty() {
        let text = if total == 0 {
            "No customers yet: every tenant that sends events appears here, with its intent and risk."
        } else {
            "No customer matches these filters."
        };
        return view! { <p class="empty-state" data-testid="customers-empty">{text}</p> }.erase();
    }
    let header = SORTS
        .iter()
        .map(|(key, title)| {
            let sorted = lq.sort.as_deref() == Some(*key);
            let aria = sorted.then_some(if lq.descending { "descending" } else { "ascending" });
            let href = lq.sorted_by(key, as_of_text.as_deref());
            view! {
                <th scope="col" aria-sort=aria>
                    <a href=href>{*title} {sorted.then_some(if lq.descending { " ▼" } else { " ▲" })}</a>
                </th>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="events customers" data-testid="customers-table">
                <thead>
                    <tr>{header}</tr>
                </thead>
                <tbody>
                    {customers
                        .into_iter()
                        .map(|c| {
                            let href = format!("/customers/{}", c.tenant_id);
                            let plan = match &c.plan {
                                Some(p) => format!("{p} · ${}/mo", c.price_usd_month.normalize()),
                                None => format!("${}/mo", c.price_usd_month.normalize()),
                            };
                            let subscription = match c.cancelled_at {
                                Some(t) => format!("Cancelled {}", t.format("%b %d")),
                                None => format!("Day {}", c.day),
                            };
                            let arrow = trend_arrow(c.stickiness_score, c.stickiness_last_week);
                            view! {
                                <tr data-testid="customer-row" data-silent=c.silent_churn.to_string()>
                                    <td>
                                        <a href=href class="customer-name">{c.tenant_name.clone()}</a>
                                        {c.silent_churn.then(|| view! {
                                            <span class="type-badge silent">{format!("silent {} days", c.days_silent.unwrap_or_default())}</span>
                                        })}
                                        <div class="muted small-print">{plan}</div>
                                    </td>
                                    <td>{subscription}</td>
                                    <td title=c.intent_evidence.clone()>
                                        {c.inferred_intent.label()}
                                        <span class="muted">{format!(" {:.2}", c.intent_confidence)}</span>
                                        <div class="muted small-print">{c.intent_evidence.clone()}</div>
                                    </td>
                                    <td class="num">
                                        {format!("{:.2} {arrow}", c.stickiness_score)}
                                        <div class="muted small-print">{format!("was {:.2}", c.stickiness_last_week)}</div>
                                    </td>
                                    <td>
                                        <span class=risk_class(c.churn_risk)>{c.churn_risk.label()}</span>
                                        <div class="muted small-print">{c.churn_reason.clone()}</div>
                                    </td>
                                    <td>{ago(as_of, c.last_investigation)}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .erase()
}
