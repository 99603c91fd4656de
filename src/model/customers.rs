//! Customer Intelligence: who each tenant is (intent from its first week), how attached it is
//! (stickiness), and whether it is slipping (silent churn, churn risk). Everything here is a
//! pure function of a tenant's [`TenantFacts`] and the moment asked about, so the rules are
//! tested without a database and the server only gathers the facts.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the stream says about one tenant up to a moment `as_of`. Replays and exports made in
/// this console (`source = operator`) are not in any of these.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct TenantFacts {
    pub tenant_id: Uuid,
    /// From the first `SUBSCRIPTION_STARTED`.
    pub name: Option<String>,
    pub plan: Option<String>,
    pub source: Option<String>,
    pub price_usd_month: Option<Decimal>,
    /// The first `SUBSCRIPTION_STARTED`, if any.
    pub subscribed_at: Option<DateTime<Utc>>,
    /// The tenant's first event of any kind.
    pub first_event: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub first_incident: Option<DateTime<Utc>>,
    pub first_replay: Option<DateTime<Utc>>,
    pub first_export: Option<DateTime<Utc>>,
    pub last_api_call: Option<DateTime<Utc>>,
    /// The latest view, replay or export.
    pub last_investigation: Option<DateTime<Utc>>,
    pub last_export: Option<DateTime<Utc>>,
    /// Stickiness inputs for `as_of` and for a week earlier.
    pub now: ActionCounts,
    pub week_ago: ActionCounts,
}

/// Views, replays and exports in the 3 days before a moment and in the 4 days before those.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ActionCounts {
    pub recent_views: i64,
    pub older_views: i64,
    pub recent_replays: i64,
    pub older_replays: i64,
    pub recent_exports: i64,
    pub older_exports: i64,
}

/// Actions younger than this count fully; older ones (up to [`STICKINESS_WINDOW`]) half.
pub const RECENT: Duration = Duration::days(3);
pub const STICKINESS_WINDOW: Duration = Duration::days(7);

impl ActionCounts {
    /// The spec's score: views 0.2, replays 0.3, exports 0.5; actions 3 to 7 days old count
    /// half. Rounded to two decimals.
    pub fn stickiness(&self) -> f64 {
        let score = self.recent_views as f64 * 0.2
            + self.older_views as f64 * 0.1
            + self.recent_replays as f64 * 0.3
            + self.older_replays as f64 * 0.15
            + self.recent_exports as f64 * 0.5
            + self.older_exports as f64 * 0.25;
        (score * 100.0).round() / 100.0
    }
}

/// The contract's four intents, in the order their rules are tried.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Intent {
    #[serde(rename = "Legal/Compliance")]
    LegalCompliance,
    #[serde(rename = "Debugging")]
    Debugging,
    #[serde(rename = "Reliability Monitoring")]
    ReliabilityMonitoring,
    #[serde(rename = "Proxy Only")]
    ProxyOnly,
}

impl Intent {
    pub const ALL: [Intent; 4] = [
        Intent::LegalCompliance,
        Intent::Debugging,
        Intent::ReliabilityMonitoring,
        Intent::ProxyOnly,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Intent::LegalCompliance => "Legal/Compliance",
            Intent::Debugging => "Debugging",
            Intent::ReliabilityMonitoring => "Reliability Monitoring",
            Intent::ProxyOnly => "Proxy Only",
        }
    }

    pub fn parse(text: &str) -> Option<Intent> {
        Intent::ALL.into_iter().find(|i| i.label() == text)
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ChurnRisk {
    Low,
    Medium,
    High,
}

impl ChurnRisk {
    pub fn label(self) -> &'static str {
        match self {
            ChurnRisk::Low => "LOW",
            ChurnRisk::Medium => "MEDIUM",
            ChurnRisk::High => "HIGH",
        }
    }

    pub fn parse(text: &str) -> Option<ChurnRisk> {
        [ChurnRisk::Low, ChurnRisk::Medium, ChurnRisk::High]
            .into_iter()
            .find(|r| r.label() == text)
    }
}

/// The first week after signup decides the intent.
pub const INTENT_WINDOW: Duration = Duration::days(7);
/// API calls this recent mean the product is still in use.
pub const API_ACTIVE: Duration = Duration::hours(48);
/// No investigation for this long, while the API is in use, is silent churn.
pub const SILENT_AFTER: Duration = Duration::days(7);
/// Silence this long is worth watching before it becomes churn.
pub const QUIET_AFTER: Duration = Duration::days(4);

/// One tenant as the customer list shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Customer {
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub plan: Option<String>,
    /// `price_usd_month` of the subscription, 99 when it did not say (`NOTES.md` 5).
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub price_usd_month: Decimal,
    pub signup_at: DateTime<Utc>,
    /// Days since signup, counting the signup day as day 1.
    pub day: i64,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub inferred_intent: Intent,
    pub intent_confidence: f64,
    /// Why: "Export within 18 h of signup".
    pub intent_evidence: String,
    pub stickiness_score: f64,
    pub stickiness_last_week: f64,
    pub silent_churn: bool,
    /// Whole days since the last investigation, if there ever was one.
    pub days_silent: Option<i64>,
    pub churn_risk: ChurnRisk,
    pub churn_reason: String,
    pub last_investigation: Option<DateTime<Utc>>,
    pub last_export: Option<DateTime<Utc>>,
    pub last_api_call: Option<DateTime<Utc>>,
}

fn hours_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_seconds().max(0) as f64) / 3600.0
}

/// "18 h" under two days, else "day 3".
fn after_signup(signup: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let hours = hours_between(signup, at);
    if hours < 48.0 {
        format!("within {:.0} h of signup", hours.ceil().max(1.0))
    } else {
        format!("on day {} after signup", (hours / 24.0).floor() as i64 + 1)
    }
}

/// The spec's rules, in order, on the first seven days after signup.
pub fn intent(signup: DateTime<Utc>, f: &TenantFacts) -> (Intent, f64, String) {
    let within = |t: Option<DateTime<Utc>>| t.filter(|t| *t < signup + INTENT_WINDOW);
    if let Some(export) = within(f.first_export) {
        let confidence = if export < signup + Duration::hours(24) {
            0.95
        } else {
            0.85
        };
        let evidence = format!("Export {}", after_signup(signup, export));
        return (Intent::LegalCompliance, confidence, evidence);
    }
    if let Some(replay) = within(f.first_replay) {
        let evidence = format!(
            "Replay {}, no export in the first week",
            after_signup(signup, replay)
        );
        return (Intent::Debugging, 0.75, evidence);
    }
    if let Some(incident) = within(f.first_incident) {
        let evidence = format!(
            "First incident {}; no replay or export in the first week",
            after_signup(signup, incident)
        );
        return (Intent::ReliabilityMonitoring, 0.65, evidence);
    }
    (
        Intent::ProxyOnly,
        0.5,
        "No incident in the first week: API traffic only".to_owned(),
    )
}

/// NOTES.md 2: the first `SUBSCRIPTION_STARTED` is the signup, else the tenant's first event.
pub fn signup_at(
    subscribed_at: Option<DateTime<Utc>>,
    first_event: DateTime<Utc>,
) -> DateTime<Utc> {
    subscribed_at.unwrap_or(first_event)
}

/// The whole row for a tenant as of `as_of`.
pub fn customer(f: &TenantFacts, as_of: DateTime<Utc>) -> Customer {
    let signup = signup_at(f.subscribed_at, f.first_event);
    let (inferred_intent, intent_confidence, intent_evidence) = intent(signup, f);
    let stickiness_score = f.now.stickiness();
    let stickiness_last_week = f.week_ago.stickiness();
    let cancelled = f.cancelled_at.filter(|c| *c <= as_of);
    let api_active = f.last_api_call.is_some_and(|t| t > as_of - API_ACTIVE);
    let silence = f.last_investigation.map(|t| as_of - t);
    let silent_churn =
        cancelled.is_none() && api_active && silence.is_some_and(|s| s > SILENT_AFTER);
    let days_silent = silence.map(|s| s.num_days());
    let (churn_risk, churn_reason) = risk(
        cancelled.is_some(),
        api_active,
        silent_churn,
        silence,
        stickiness_score,
        stickiness_last_week,
        f,
    );
    Customer {
        tenant_id: f.tenant_id,
        tenant_name: super::tenant_label(f.tenant_id, f.name.as_deref()),
        plan: f.plan.clone(),
        price_usd_month: f.price_usd_month.unwrap_or(Decimal::from(99)),
        signup_at: signup,
        day: (as_of - signup).num_days() + 1,
        cancelled_at: cancelled,
        inferred_intent,
        intent_confidence,
        intent_evidence,
        stickiness_score,
        stickiness_last_week,
        silent_churn,
        days_silent,
        churn_risk,
        churn_reason,
        last_investigation: f.last_investigation,
        last_export: f.last_export,
        last_api_call: f.last_api_call,
    }
}

/// HIGH for silent churn or stickiness halved; MEDIUM for a quiet spell of 4+ days while the
/// API is in use, or stickiness down by a quarter; LOW otherwise. Cancelled tenants are HIGH:
/// the risk came true.
fn risk(
    cancelled: bool,
    api_active: bool,
    silent_churn: bool,
    silence: Option<Duration>,
    now: f64,
    week_ago: f64,
    f: &TenantFacts,
) -> (ChurnRisk, String) {
    if cancelled {
        let reason = f.cancel_reason.as_deref().unwrap_or("no reason given");
        return (ChurnRisk::High, format!("Cancelled: {reason}"));
    }
    let days = silence.map(|s| s.num_days()).unwrap_or_default();
    if silent_churn {
        return (
            ChurnRisk::High,
            format!("API still in use, no investigation for {days} days"),
        );
    }
    let fall = (week_ago >= 1.0).then(|| 1.0 - now / week_ago);
    if let Some(fall) = fall.filter(|f| *f >= 0.5) {
        return (
            ChurnRisk::High,
            format!(
                "Stickiness down {:.0}% in a week ({week_ago:.2} → {now:.2})",
                fall * 100.0
            ),
        );
    }
    if api_active && silence.is_some_and(|s| s > QUIET_AFTER) {
        return (
            ChurnRisk::Medium,
            format!("No investigation for {days} days while the API is in use"),
        );
    }
    if let Some(fall) = fall.filter(|f| *f >= 0.25) {
        return (
            ChurnRisk::Medium,
            format!(
                "Stickiness down {:.0}% in a week ({week_ago:.2} → {now:.2})",
                fall * 100.0
            ),
        );
    }
    let reason = if silence.is_none() {
        "Never investigated, nothing to lose yet".to_owned()
    } else {
        "Investigating regularly; stickiness steady".to_owned()
    };
    (ChurnRisk::Low, reason)
}

/// Whether a score went up, down or stayed (within 10%).
pub fn trend_arrow(now: f64, week_ago: f64) -> &'static str {
    if now > week_ago * 1.1 && now - week_ago >= 0.05 {
        "↑"
    } else if now < week_ago * 0.9 && week_ago - now >= 0.05 {
        "↓"
    } else {
        "→"
    }
}

/// The list, intervention moments first: silent churners by longest silence, then by risk,
/// then by name.
pub fn sort_for_attention(customers: &mut [Customer]) {
    customers.sort_by(|a, b| {
        b.silent_churn
            .cmp(&a.silent_churn)
            .then_with(|| {
                if a.silent_churn {
                    b.days_silent.cmp(&a.days_silent)
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .then_with(|| (a.cancelled_at.is_some()).cmp(&b.cancelled_at.is_some()))
            .then_with(|| b.churn_risk.cmp(&a.churn_risk))
            .then_with(|| a.tenant_name.cmp(&b.tenant_name))
    });
}

/// The answer of `GET /api/v1/ops/customers`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Customers {
    pub as_of: DateTime<Utc>,
    pub customers: Vec<Customer>,
}

/// One 24-hour window of a tenant's activity (windows end at `as_of`, as the pulse's do).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ActivityDay {
    /// The end of the window.
    pub until: DateTime<Utc>,
    pub api_calls: i64,
    pub incidents: i64,
    /// Views, replays and exports.
    pub investigations: i64,
    pub replays: i64,
    pub exports: i64,
}

/// One line of the activity timeline: its 30-day total and the word for its trend.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SeriesTrend {
    pub series: String,
    pub total: i64,
    pub trend: String,
}

/// How a daily series (oldest first) moves: the last 7 days against the days before.
/// `none` without any activity; `stopped` when the last 7 days have none; `rare` on fewer than
/// 5 active days; else `dropping` (under half the earlier daily rate), `declining` (under
/// 80%), `growing` (over 125%) or `stable`.
pub fn trend_word(days: &[i64]) -> &'static str {
    let total: i64 = days.iter().sum();
    if total == 0 {
        return "none";
    }
    let split = days.len().saturating_sub(7);
    let (before, recent) = days.split_at(split);
    let recent_sum: i64 = recent.iter().sum();
    if recent_sum == 0 {
        return "stopped";
    }
    if days.iter().filter(|d| **d > 0).count() < 5 {
        return "rare";
    }
    let before_sum: i64 = before.iter().sum();
    if before.is_empty() || before_sum == 0 {
        return "growing";
    }
    let ratio =
        (recent_sum as f64 / recent.len() as f64) / (before_sum as f64 / before.len() as f64);
    if ratio < 0.5 {
        "dropping"
    } else if ratio < 0.8 {
        "declining"
    } else if ratio > 1.25 {
        "growing"
    } else {
        "stable"
    }
}

/// Reads one series out of a day.
pub type Pick = fn(&ActivityDay) -> i64;

/// The timeline's series, in the order the profile shows them.
pub const ACTIVITY_SERIES: [(&str, Pick); 5] = [
    ("API calls", |d| d.api_calls),
    ("Incidents", |d| d.incidents),
    ("Investigations", |d| d.investigations),
    ("Replays", |d| d.replays),
    ("Exports", |d| d.exports),
];

/// The trend of each timeline series, over the windows since `signup` only: days before a
/// tenant existed are no evidence of growth.
pub fn trends(timeline: &[ActivityDay], signup: DateTime<Utc>) -> Vec<SeriesTrend> {
    let timeline: Vec<&ActivityDay> = timeline.iter().filter(|d| d.until >= signup).collect();
    ACTIVITY_SERIES
        .iter()
        .map(|(name, f)| {
            let days: Vec<i64> = timeline.iter().map(|d| f(d)).collect();
            SeriesTrend {
                series: (*name).to_owned(),
                total: days.iter().sum(),
                trend: trend_word(&days).to_owned(),
            }
        })
        .collect()
}

/// A tenant's profile page and `GET /api/v1/ops/customers/{tenant_id}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CustomerProfile {
    pub as_of: DateTime<Utc>,
    #[serde(flatten)]
    pub customer: Customer,
    /// Where the subscription came from (`SUBSCRIPTION_STARTED`'s `source`).
    pub source: Option<String>,
    pub hours_to_first_incident: Option<f64>,
    pub hours_to_first_replay: Option<f64>,
    pub hours_to_first_export: Option<f64>,
    /// Thirty 24-hour windows ending at `as_of`, oldest first.
    pub timeline: Vec<ActivityDay>,
    pub trends: Vec<SeriesTrend>,
    /// The newest incident, for "Force Replay Demo".
    pub latest_incident: Option<Uuid>,
}

/// Hours from signup to `t`, one decimal; `None` when it never happened.
pub fn hours_to(signup: DateTime<Utc>, t: Option<DateTime<Utc>>) -> Option<f64> {
    t.map(|t| ((t - signup).num_seconds() as f64 / 3600.0 * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
    }

    fn facts(signup: DateTime<Utc>) -> TenantFacts {
        TenantFacts {
            tenant_id: Uuid::from_u128(1),
            subscribed_at: Some(signup),
            first_event: signup,
            ..TenantFacts::default()
        }
    }

    #[test]
    fn intent_rules_in_order_with_their_confidences() {
        let s = t0() - Duration::days(20);
        let h = |n: i64| Some(s + Duration::hours(n));
        let mut f = facts(s);
        f.first_export = h(18);
        f.first_replay = h(2);
        let (i, c, e) = intent(s, &f);
        assert_eq!(
            (i, c, e.as_str()),
            (
                Intent::LegalCompliance,
                0.95,
                "Export within 18 h of signup"
            )
        );
        f.first_export = h(24); // exactly 24 h is no longer "within 24 h"
        assert_eq!(intent(s, &f).1, 0.85);
        f.first_export = h(7 * 24 - 1);
        assert_eq!(intent(s, &f).0, Intent::LegalCompliance);
        f.first_export = h(7 * 24); // exactly 7 days: outside the first week
        assert_eq!(intent(s, &f).0, Intent::Debugging);
        assert_eq!(intent(s, &f).1, 0.75);
        f.first_replay = h(7 * 24);
        f.first_incident = h(3);
        assert_eq!(intent(s, &f).0, Intent::ReliabilityMonitoring);
        assert_eq!(intent(s, &f).1, 0.65);
        f.first_incident = h(8 * 24);
        let (i, c, _) = intent(s, &f);
        assert_eq!((i, c), (Intent::ProxyOnly, 0.5));
        f.first_replay = h(50);
        assert_eq!(
            intent(s, &f).2,
            "Replay on day 3 after signup, no export in the first week"
        );
    }

    #[test]
    fn stickiness_weights_and_half_weight_after_three_days() {
        let c = ActionCounts {
            recent_views: 3,
            older_views: 2,
            recent_replays: 1,
            older_replays: 2,
            recent_exports: 1,
            older_exports: 1,
        };
        // 0.6 + 0.2 + 0.3 + 0.3 + 0.5 + 0.25
        assert_eq!(c.stickiness(), 2.15);
        assert_eq!(ActionCounts::default().stickiness(), 0.0);
    }

    #[test]
    fn silent_churn_needs_recent_api_and_a_week_of_silence() {
        let mut f = facts(t0() - Duration::days(30));
        f.last_api_call = Some(t0() - Duration::hours(47));
        f.last_investigation = Some(t0() - Duration::days(7) - Duration::seconds(1));
        let c = customer(&f, t0());
        assert!(c.silent_churn);
        assert_eq!(c.churn_risk, ChurnRisk::High);
        assert_eq!(
            c.churn_reason,
            "API still in use, no investigation for 7 days"
        );
        // Exactly 7 days of silence is not yet more than 7.
        f.last_investigation = Some(t0() - Duration::days(7));
        assert!(!customer(&f, t0()).silent_churn);
        assert_eq!(customer(&f, t0()).churn_risk, ChurnRisk::Medium);
        // No API call in the last 48 h: not silent churn, the product is not in use.
        f.last_investigation = Some(t0() - Duration::days(10));
        f.last_api_call = Some(t0() - Duration::hours(48));
        assert!(!customer(&f, t0()).silent_churn);
        // Never investigated: nothing stopped.
        f.last_api_call = Some(t0() - Duration::hours(1));
        f.last_investigation = None;
        assert!(!customer(&f, t0()).silent_churn);
        assert_eq!(customer(&f, t0()).churn_risk, ChurnRisk::Low);
        // Cancelled: churned, not silent.
        f.last_investigation = Some(t0() - Duration::days(10));
        f.cancelled_at = Some(t0() - Duration::days(1));
        f.cancel_reason = Some("Too expensive".into());
        let c = customer(&f, t0());
        assert!(!c.silent_churn);
        assert_eq!(
            (c.churn_risk, c.churn_reason.as_str()),
            (ChurnRisk::High, "Cancelled: Too expensive")
        );
        // ...but not before it happened.
        assert!(customer(&f, t0() - Duration::days(2))
            .cancelled_at
            .is_none());
    }

    #[test]
    fn risk_follows_the_stickiness_trend() {
        let mut f = facts(t0() - Duration::days(30));
        f.last_api_call = Some(t0() - Duration::hours(1));
        f.last_investigation = Some(t0() - Duration::days(1));
        f.week_ago.recent_exports = 4; // 2.0
        f.now.recent_exports = 2; // 1.0: down 50%
        assert_eq!(customer(&f, t0()).churn_risk, ChurnRisk::High);
        f.now.recent_views = 3; // 1.6: down 20%
        assert_eq!(customer(&f, t0()).churn_risk, ChurnRisk::Low);
        f.now.recent_views = 2; // 1.4: down 30%
        let c = customer(&f, t0());
        assert_eq!(
            (c.churn_risk, c.churn_reason.as_str()),
            (
                ChurnRisk::Medium,
                "Stickiness down 30% in a week (2.00 → 1.40)"
            )
        );
        assert_eq!(trend_arrow(1.4, 2.0), "↓");
        assert_eq!(trend_arrow(2.0, 2.0), "→");
        assert_eq!(trend_arrow(0.2, 0.0), "↑");
    }

    #[test]
    fn trend_words() {
        let mut days = vec![3; 30];
        assert_eq!(trend_word(&days), "stable");
        days[23..].fill(1); // 1 a day against 3 before
        assert_eq!(trend_word(&days), "dropping");
        days[23..].fill(2);
        assert_eq!(trend_word(&days), "declining");
        days[23..].fill(0);
        assert_eq!(trend_word(&days), "stopped");
        days[23..].fill(5);
        assert_eq!(trend_word(&days), "growing");
        assert_eq!(trend_word(&[0; 30]), "none");
        let mut rare = vec![0; 30];
        rare[3] = 1;
        rare[28] = 2;
        assert_eq!(trend_word(&rare), "rare");
    }

    #[test]
    fn signup_is_the_first_subscription_else_the_first_event() {
        let mut f = facts(t0() - Duration::days(10));
        f.first_event = t0() - Duration::days(12);
        assert_eq!(customer(&f, t0()).signup_at, t0() - Duration::days(10));
        assert_eq!(customer(&f, t0()).day, 11);
        f.subscribed_at = None;
        assert_eq!(customer(&f, t0()).signup_at, t0() - Duration::days(12));
        assert_eq!(customer(&f, t0()).price_usd_month, Decimal::from(99));
    }
}
