//! Incident Intelligence: where incidents come from (model, policy, the two together), why
//! (forced attribution), and whether a new policy version made them worse (regressions).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The windows the page offers, in hours: the last hour, day and week.
pub const WINDOWS: [i32; 3] = [1, 24, 168];
pub const DEFAULT_WINDOW: i32 = 24;
/// How many of the latest incidents the page lists.
pub const RECENT_LIMIT: usize = 50;
/// Events of the same session at most this long before an incident belong to its call.
pub const CALL_SPAN_SECS: i64 = 30;

/// Policies that judge what the user sent rather than what the model answered: an incident of
/// one of these, with no other cause found, is the user's misuse.
pub const INPUT_POLICIES: [&str; 5] = [
    "SAFETY_BASIC",
    "PII_FILTER",
    "PROMPT_INJECTION",
    "JAILBREAK",
    "INPUT_FILTER",
];

/// The policy whose incidents are the model's hallucinations.
pub const ACCURACY_POLICY: &str = "CONTENT_ACCURACY";

/// The six classes every incident is put in; there is no seventh.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Attribution {
    ModelHallucination,
    PolicyConflict,
    ContextMissing,
    InfraTimeout,
    BudgetExceeded,
    UserMisuse,
}

impl Attribution {
    pub const ALL: [Attribution; 6] = [
        Attribution::ModelHallucination,
        Attribution::PolicyConflict,
        Attribution::ContextMissing,
        Attribution::InfraTimeout,
        Attribution::BudgetExceeded,
        Attribution::UserMisuse,
    ];

    /// The contract's name: `MODEL_HALLUCINATION`, ….
    pub fn code(self) -> &'static str {
        match self {
            Attribution::ModelHallucination => "MODEL_HALLUCINATION",
            Attribution::PolicyConflict => "POLICY_CONFLICT",
            Attribution::ContextMissing => "CONTEXT_MISSING",
            Attribution::InfraTimeout => "INFRA_TIMEOUT",
            Attribution::BudgetExceeded => "BUDGET_EXCEEDED",
            Attribution::UserMisuse => "USER_MISUSE",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Attribution::ModelHallucination => "Model hallucination",
            Attribution::PolicyConflict => "Policy conflict",
            Attribution::ContextMissing => "Context missing",
            Attribution::InfraTimeout => "Infra timeout",
            Attribution::BudgetExceeded => "Budget exceeded",
            Attribution::UserMisuse => "User misuse",
        }
    }

    /// A class named by the guard in `metadata.attribution`; anything else is not one.
    pub fn parse(code: &str) -> Option<Attribution> {
        Attribution::ALL.into_iter().find(|a| a.code() == code)
    }
}

/// What decided an incident's class, in the order the rules are tried.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Rule {
    /// The guard named a valid class in `metadata.attribution`.
    Reported,
    /// The incident is a CONTENT_ACCURACY violation.
    ContentAccuracy,
    /// More than one policy fired on the call.
    SeveralPolicies,
    /// The retrieved context was null or empty.
    EmptyContext,
    /// The call's LLM request timed out or failed with a 5xx.
    LlmFailure,
    /// A cost or budget limit was hit on the call.
    CostLimit,
    /// The incident's policy judges the user's input.
    InputPolicy,
    /// Nothing above applies: an output policy caught the model's answer on its own.
    LastResort,
}

impl Rule {
    pub const ORDER: [Rule; 8] = [
        Rule::Reported,
        Rule::ContentAccuracy,
        Rule::SeveralPolicies,
        Rule::EmptyContext,
        Rule::LlmFailure,
        Rule::CostLimit,
        Rule::InputPolicy,
        Rule::LastResort,
    ];

    /// The rule as one sentence, for the page.
    pub fn explain(self) -> &'static str {
        match self {
            Rule::Reported => "named by the guard in metadata.attribution",
            Rule::ContentAccuracy => "CONTENT_ACCURACY fired",
            Rule::SeveralPolicies => "more than one policy fired on the call",
            Rule::EmptyContext => "the retrieved context was null or empty",
            Rule::LlmFailure => "the call's LLM request timed out or returned a 5xx",
            Rule::CostLimit => "a cost or budget limit was hit on the call",
            Rule::InputPolicy => "an input policy (on what the user sent) fired",
            Rule::LastResort => {
                "last resort: an output policy caught the model's answer and nothing else explains it"
            }
        }
    }
}

/// What the stream says about one incident and its call, as attribution reads it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncidentFacts {
    /// `metadata.attribution` as sent, valid or not.
    pub reported: Option<String>,
    pub policy_id: String,
    /// Distinct policies in `metadata.policies_fired`.
    pub policies_fired: usize,
    /// `input` is present and its `context` is missing, null, `{}`, `[]` or blank.
    pub context_empty: bool,
    /// An `LLM_CALL_FAILED` of type `timeout` or `5xx` in the same call.
    pub llm_failure: bool,
    /// A cost or budget limit in the same call (`INFRA_LIMIT_HIT`, `POLICY_BLOCKED` or
    /// `LLM_CALL_FAILED` naming a budget or cost), or the incident's own policy is one.
    pub cost_limit: bool,
}

/// Whether a resource, reason or error type names a cost or budget limit.
pub fn names_cost_limit(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("budget") || t.contains("cost")
}

/// Exactly one class per incident, and the rule that gave it: a valid reported class is kept;
/// otherwise the first rule of [`Rule::ORDER`] that holds decides.
pub fn attribute(f: &IncidentFacts) -> (Attribution, Rule) {
    if let Some(a) = f.reported.as_deref().and_then(Attribution::parse) {
        return (a, Rule::Reported);
    }
    if f.policy_id == ACCURACY_POLICY {
        (Attribution::ModelHallucination, Rule::ContentAccuracy)
    } else if f.policies_fired > 1 {
        (Attribution::PolicyConflict, Rule::SeveralPolicies)
    } else if f.context_empty {
        (Attribution::ContextMissing, Rule::EmptyContext)
    } else if f.llm_failure {
        (Attribution::InfraTimeout, Rule::LlmFailure)
    } else if f.cost_limit || names_cost_limit(&f.policy_id) {
        (Attribution::BudgetExceeded, Rule::CostLimit)
    } else if INPUT_POLICIES.contains(&f.policy_id.as_str()) {
        (Attribution::UserMisuse, Rule::InputPolicy)
    } else {
        (Attribution::ModelHallucination, Rule::LastResort)
    }
}

/// One incident as the page lists it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Incident {
    pub incident_id: Uuid,
    pub at: DateTime<Utc>,
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub model: String,
    pub policy_id: String,
    pub policy_version: String,
    pub severity: Option<i32>,
    pub attribution: Attribution,
    pub rule: Rule,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ModelShare {
    pub model: String,
    pub incident_count: i64,
    /// Share of the window's incidents; the shares add up to exactly 100.
    pub pct: f64,
    pub avg_severity: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PolicyShare {
    pub policy_id: String,
    pub incident_count: i64,
    pub pct: f64,
    pub avg_severity: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AttributionShare {
    pub attribution: Attribution,
    pub count: i64,
    pub pct: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RuleCount {
    pub rule: Rule,
    pub count: i64,
}

/// One cell of the model × policy matrix.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MatrixCell {
    pub model: String,
    pub policy_id: String,
    pub incident_count: i64,
    pub avg_severity: Option<f64>,
}

/// Incidents by model and policy together; `cells` holds only the pairs that occurred.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Matrix {
    /// Most incidents first, as in `by_model`.
    pub models: Vec<String>,
    pub policies: Vec<String>,
    pub cells: Vec<MatrixCell>,
}

/// A policy version whose incidents are markedly more severe than its predecessor's.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Regression {
    pub policy_id: String,
    pub policy_version: String,
    pub previous_version: String,
    /// Mean severity of the new version minus its predecessor's baseline, to two decimals.
    pub severity_delta: f64,
    pub mean_severity: f64,
    pub baseline_severity: f64,
    pub samples: i64,
    pub baseline_samples: i64,
    /// One-sided Welch's t-test of "the new version is more severe".
    pub p_value: f64,
    /// Tenant ids with incidents of the new version, by name.
    pub affected_tenants: Vec<Uuid>,
    pub affected_names: Vec<String>,
    /// The first incident of the new version.
    pub rollout_at: DateTime<Utc>,
    /// The first moment the evidence met every condition.
    pub detected_at: DateTime<Utc>,
    /// The latest incidents of the new version, for Replay Samples and Diff Outputs.
    pub sample_incidents: Vec<Uuid>,
}

/// A row of the spec's day-over-day view: a policy's mean severity on a (UTC) day against the
/// day before, kept when it rose by more than 0.5.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DayOverDay {
    pub policy_id: String,
    pub day: DateTime<Utc>,
    pub avg_severity: f64,
    pub incidents: i64,
    pub severity_delta: f64,
}

/// `GET /api/v1/ops/incidents/patterns` and the page.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Patterns {
    pub as_of: DateTime<Utc>,
    pub window_hours: i32,
    pub tenant_id: Option<Uuid>,
    pub tenant_name: Option<String>,
    pub total: i64,
    pub by_model: Vec<ModelShare>,
    pub by_policy: Vec<PolicyShare>,
    pub matrix: Matrix,
    /// All six classes when there are incidents, most frequent first.
    pub attribution: Vec<AttributionShare>,
    /// How many incidents each rule decided, in rule order.
    pub rules: Vec<RuleCount>,
    pub regressions: Vec<Regression>,
    pub day_over_day: Vec<DayOverDay>,
    /// The latest incidents, newest first.
    pub recent: Vec<Incident>,
}

/// Percentages of `counts` to one decimal that add up to exactly 100 (largest remainder);
/// all zero when the counts are.
pub fn shares(counts: &[i64]) -> Vec<f64> {
    let total: i64 = counts.iter().sum();
    if total <= 0 {
        return vec![0.0; counts.len()];
    }
    // In tenths of a percent: 1000 to hand out.
    let exact: Vec<f64> = counts
        .iter()
        .map(|&c| c as f64 * 1000.0 / total as f64)
        .collect();
    let mut tenths: Vec<i64> = exact.iter().map(|e| e.floor() as i64).collect();
    let mut left = 1000 - tenths.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for i in order {
        if left == 0 {
            break;
        }
        tenths[i] += 1;
        left -= 1;
    }
    tenths.into_iter().map(|t| t as f64 / 10.0).collect()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[derive(Default)]
struct Tally {
    count: i64,
    severities: i64,
    severity_sum: i64,
}

impl Tally {
    fn add(&mut self, g: &Group) {
        self.count += g.count;
        self.severities += g.severities;
        self.severity_sum += g.severity_sum;
    }

    /// The mean of the known severities (their sum is a whole number, exact in `f64`).
    fn avg(&self) -> Option<f64> {
        (self.severities > 0).then(|| round2(self.severity_sum as f64 / self.severities as f64))
    }
}

/// Incidents that look the same to the heatmaps and the attribution: one model, one policy,
/// one class by one rule; how many, and the sum of those of their severities that are known.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub model: String,
    pub policy_id: String,
    pub attribution: Attribution,
    pub rule: Rule,
    pub count: i64,
    pub severities: i64,
    pub severity_sum: i64,
}

impl Group {
    pub fn of(i: &Incident) -> Self {
        Group {
            model: i.model.clone(),
            policy_id: i.policy_id.clone(),
            attribution: i.attribution,
            rule: i.rule,
            count: 1,
            severities: i64::from(i.severity.is_some()),
            severity_sum: i64::from(i.severity.unwrap_or(0)),
        }
    }
}

/// Most incidents first, then by name.
fn ranked(map: BTreeMap<String, Tally>) -> Vec<(String, Tally)> {
    let mut v: Vec<(String, Tally)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
    v
}

/// The heatmaps and the attribution distribution of a window's incidents.
pub fn breakdown(incidents: &[Incident]) -> Breakdown {
    let groups: Vec<Group> = incidents.iter().map(Group::of).collect();
    breakdown_groups(&groups)
}

/// What [`breakdown`] returns: by model, by policy, the model × policy matrix, the attribution
/// shares and the rules that decided.
pub type Breakdown = (
    Vec<ModelShare>,
    Vec<PolicyShare>,
    Matrix,
    Vec<AttributionShare>,
    Vec<RuleCount>,
);

/// [`breakdown`] of incidents counted in groups.
pub fn breakdown_groups(groups: &[Group]) -> Breakdown {
    let mut models: BTreeMap<String, Tally> = BTreeMap::new();
    let mut policies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut pairs: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut classes: BTreeMap<Attribution, i64> = BTreeMap::new();
    let mut rules: BTreeMap<Rule, i64> = BTreeMap::new();
    for g in groups {
        models.entry(g.model.clone()).or_default().add(g);
        policies.entry(g.policy_id.clone()).or_default().add(g);
        pairs
            .entry((g.model.clone(), g.policy_id.clone()))
            .or_default()
            .add(g);
        *classes.entry(g.attribution).or_default() += g.count;
        *rules.entry(g.rule).or_default() += g.count;
    }
    let models = ranked(models);
    let policies = ranked(policies);
    let model_pct = shares(&models.iter().map(|m| m.1.count).collect::<Vec<_>>());
    let policy_pct = shares(&policies.iter().map(|p| p.1.count).collect::<Vec<_>>());
    let matrix = Matrix {
        models: models.iter().map(|m| m.0.clone()).collect(),
        policies: policies.iter().map(|p| p.0.clone()).collect(),
        cells: pairs
            .into_iter()
            .map(|((model, policy_id), t)| MatrixCell {
                model,
                policy_id,
                incident_count: t.count,
                avg_severity: t.avg(),
            })
            .collect(),
    };
    let by_model = models
        .into_iter()
        .zip(model_pct)
        .map(|((model, t), pct)| ModelShare {
            model,
            incident_count: t.count,
            pct,
            avg_severity: t.avg(),
        })
        .collect();
    let by_policy = policies
        .into_iter()
        .zip(policy_pct)
        .map(|((policy_id, t), pct)| PolicyShare {
            policy_id,
            incident_count: t.count,
            pct,
            avg_severity: t.avg(),
        })
        .collect();
    let attribution = if groups.iter().all(|g| g.count == 0) {
        Vec::new()
    } else {
        let counts: Vec<i64> = Attribution::ALL
            .iter()
            .map(|a| classes.get(a).copied().unwrap_or(0))
            .collect();
        let mut v: Vec<AttributionShare> = Attribution::ALL
            .into_iter()
            .zip(shares(&counts))
            .zip(&counts)
            .map(|((attribution, pct), &count)| AttributionShare {
                attribution,
                count,
                pct,
            })
            .collect();
        v.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(a.attribution.cmp(&b.attribution))
        });
        v
    };
    let rules = Rule::ORDER
        .into_iter()
        .filter_map(|rule| rules.get(&rule).map(|&count| RuleCount { rule, count }))
        .collect();
    (by_model, by_policy, matrix, attribution, rules)
}

/// What a regression must show before it is reported.
pub mod regression {
    /// The new version's mean severity must exceed the baseline's by at least this much.
    pub const MIN_DELTA: f64 = 0.5;
    /// Incidents needed on each side before a mean means anything.
    pub const MIN_SAMPLES: usize = 5;
    /// Significance of the one-sided Welch's t-test.
    pub const ALPHA: f64 = 0.01;
    /// The predecessor's baseline: its incidents in the days before the new version appeared.
    pub const BASELINE_DAYS: i64 = 7;
}

/// The evidence about a new version at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evidence {
    pub mean: f64,
    pub baseline: f64,
    pub delta: f64,
    pub p_value: f64,
    pub samples: usize,
}

impl Evidence {
    /// Every condition of a regression holds.
    pub fn regressed(&self, baseline_samples: usize) -> bool {
        self.samples >= regression::MIN_SAMPLES
            && baseline_samples >= regression::MIN_SAMPLES
            && self.delta >= regression::MIN_DELTA
            && self.p_value < regression::ALPHA
    }
}

/// Welch's one-sided t-test that `new` has a higher mean than `baseline`; `None` when either
/// side has fewer than two values.
#[cfg(feature = "ssr")]
pub fn evidence(new: &[i32], baseline: &[i32]) -> Option<Evidence> {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    if new.len() < 2 || baseline.len() < 2 {
        return None;
    }
    let stats = |xs: &[i32]| {
        let n = xs.len() as f64;
        let m = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = xs.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / (n - 1.0);
        (n, m, var)
    };
    let (n1, m1, v1) = stats(new);
    let (n0, m0, v0) = stats(baseline);
    let se2 = v1 / n1 + v0 / n0;
    let delta = m1 - m0;
    let p_value = if se2 <= 0.0 {
        // Both sides constant: the difference is certain.
        if delta > 0.0 {
            0.0
        } else {
            1.0
        }
    } else {
        let t = delta / se2.sqrt();
        let df = se2.powi(2)
            / ((v1 / n1).powi(2) / (n1 - 1.0) + (v0 / n0).powi(2) / (n0 - 1.0))
                .max(f64::MIN_POSITIVE);
        match StudentsT::new(0.0, 1.0, df.max(1.0)) {
            Ok(dist) => dist.sf(t),
            Err(_) => 1.0,
        }
    };
    Some(Evidence {
        mean: m1,
        baseline: m0,
        delta,
        p_value,
        samples: new.len(),
    })
}

/// The regression verdict on a new version: its incidents' `(time, severity)` in time order
/// against the predecessor's baseline severities. Judged on all the evidence up to now; when it
/// holds, `detected_at` is the earliest incident after which it already held.
#[cfg(feature = "ssr")]
pub fn detect(new: &[(DateTime<Utc>, i32)], baseline: &[i32]) -> Option<(Evidence, DateTime<Utc>)> {
    let all: Vec<i32> = new.iter().map(|n| n.1).collect();
    let now = evidence(&all, baseline)?;
    if !now.regressed(baseline.len()) {
        return None;
    }
    let detected_at = (regression::MIN_SAMPLES..=all.len())
        .find(|&k| evidence(&all[..k], baseline).is_some_and(|e| e.regressed(baseline.len())))
        .map(|k| new[k - 1].0)?;
    Some((now, detected_at))
}

/// A version of a policy and who may run it: the console's own record, shared with the Replay
/// Lab. Without a record, tenants run the newest version the stream shows.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ActivePolicy {
    pub policy_id: String,
    /// Versions seen in the stream, oldest first.
    pub versions: Vec<String>,
    /// What every tenant without its own pin runs.
    pub default_version: String,
    /// Whether `default_version` was set here rather than taken as the newest seen.
    pub default_pinned: bool,
    /// Tenants pinned to a version of their own.
    pub pins: Vec<TenantPin>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TenantPin {
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub version: String,
}

impl ActivePolicy {
    /// A policy with no version known yet.
    pub fn new(policy_id: String) -> Self {
        ActivePolicy {
            policy_id,
            versions: Vec::new(),
            default_version: String::new(),
            default_pinned: false,
            pins: Vec::new(),
        }
    }

    /// The version `tenant` runs.
    pub fn version_for(&self, tenant: Uuid) -> &str {
        self.pins
            .iter()
            .find(|p| p.tenant_id == tenant)
            .map_or(self.default_version.as_str(), |p| p.version.as_str())
    }
}

/// One change of active versions, as the audit log keeps it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// `rollback`, `promote` or `undo`.
    pub action: String,
    pub policy_id: String,
    pub from_version: String,
    pub to_version: String,
    /// The tenants changed; empty when the change was for every tenant.
    pub tenant_ids: Vec<Uuid>,
    pub tenant_names: Vec<String>,
    pub reason: String,
    /// The entry this one undid.
    pub undoes: Option<i64>,
    /// The entry that undid this one.
    pub undone_by: Option<i64>,
    /// Whether this entry can still be undone (it is the latest change of its policy).
    pub undoable: bool,
}

/// The Rollback panel's data: active versions and the latest changes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PolicyState {
    pub policies: Vec<ActivePolicy>,
    /// Newest first.
    pub audit: Vec<AuditEntry>,
}

/// One pair of outputs for the same question, before and after a version change.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct OutputDiff {
    pub question: String,
    pub before_incident: Uuid,
    pub after_incident: Uuid,
    pub before_version: String,
    pub after_version: String,
    /// Word by word: `(kind, text)` with kind `=` kept, `-` only before, `+` only after.
    pub segments: Vec<(char, String)>,
}

/// The hour window as words: "Last hour", "Last 24 hours", "Last 7 days".
pub fn window_label(hours: i32) -> String {
    match hours {
        1 => "Last hour".into(),
        h if h % 24 == 0 && h > 24 => format!("Last {} days", h / 24),
        h => format!("Last {h} hours"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn facts(policy: &str) -> IncidentFacts {
        IncidentFacts {
            policy_id: policy.into(),
            policies_fired: 1,
            ..Default::default()
        }
    }

    #[test]
    fn each_rule_alone_gives_its_class() {
        let cases: Vec<(IncidentFacts, Attribution, Rule)> = vec![
            (
                IncidentFacts {
                    reported: Some("BUDGET_EXCEEDED".into()),
                    ..facts("CONTENT_ACCURACY")
                },
                Attribution::BudgetExceeded,
                Rule::Reported,
            ),
            (
                facts("CONTENT_ACCURACY"),
                Attribution::ModelHallucination,
                Rule::ContentAccuracy,
            ),
            (
                IncidentFacts {
                    policies_fired: 2,
                    ..facts("TONE")
                },
                Attribution::PolicyConflict,
                Rule::SeveralPolicies,
            ),
            (
                IncidentFacts {
                    context_empty: true,
                    ..facts("TONE")
                },
                Attribution::ContextMissing,
                Rule::EmptyContext,
            ),
            (
                IncidentFacts {
                    llm_failure: true,
                    ..facts("TONE")
                },
                Attribution::InfraTimeout,
                Rule::LlmFailure,
            ),
            (
                IncidentFacts {
                    cost_limit: true,
                    ..facts("TONE")
                },
                Attribution::BudgetExceeded,
                Rule::CostLimit,
            ),
            (
                facts("COST_GUARD"),
                Attribution::BudgetExceeded,
                Rule::CostLimit,
            ),
            (
                facts("SAFETY_BASIC"),
                Attribution::UserMisuse,
                Rule::InputPolicy,
            ),
            (
                facts("TONE"),
                Attribution::ModelHallucination,
                Rule::LastResort,
            ),
        ];
        for (f, class, rule) in cases {
            assert_eq!(attribute(&f), (class, rule), "{f:?}");
        }
    }

    #[test]
    fn rules_are_tried_in_order() {
        // Every condition at once: each step removes the winning one and the next must win.
        let mut f = IncidentFacts {
            reported: Some("USER_MISUSE".into()),
            policy_id: "CONTENT_ACCURACY".into(),
            policies_fired: 3,
            context_empty: true,
            llm_failure: true,
            cost_limit: true,
        };
        let mut seen = Vec::new();
        seen.push(attribute(&f).1);
        f.reported = None;
        seen.push(attribute(&f).1);
        f.policy_id = "PII_FILTER".into();
        seen.push(attribute(&f).1);
        f.policies_fired = 1;
        seen.push(attribute(&f).1);
        f.context_empty = false;
        seen.push(attribute(&f).1);
        f.llm_failure = false;
        seen.push(attribute(&f).1);
        f.cost_limit = false;
        seen.push(attribute(&f).1);
        f.policy_id = "TONE".into();
        seen.push(attribute(&f).1);
        assert_eq!(seen, Rule::ORDER.to_vec());
    }

    #[test]
    fn an_invalid_reported_class_is_ignored() {
        for bad in ["UNCLASSIFIED", "unknown", "", "model_hallucination"] {
            let f = IncidentFacts {
                reported: Some(bad.into()),
                ..facts("PII_FILTER")
            };
            assert_eq!(attribute(&f), (Attribution::UserMisuse, Rule::InputPolicy));
        }
    }

    #[test]
    fn shares_add_up_to_exactly_one_hundred() {
        for counts in [
            vec![1, 1, 1],
            vec![2, 1],
            vec![198, 35, 26, 7],
            vec![1, 1, 1, 1, 1, 1, 1],
            vec![5],
            vec![0, 3],
        ] {
            let s = shares(&counts);
            let sum: i64 = s.iter().map(|p| (p * 10.0).round() as i64).sum();
            assert_eq!(sum, 1000, "{counts:?} → {s:?}");
            let total: i64 = counts.iter().sum();
            for (c, p) in counts.iter().zip(&s) {
                let exact = *c as f64 * 100.0 / total as f64;
                assert!(
                    (p - exact).abs() < 0.1 + 1e-9,
                    "{c}/{total}: {p} vs {exact}"
                );
            }
        }
        assert_eq!(shares(&[1, 1, 1]), vec![33.4, 33.3, 33.3]);
        assert_eq!(shares(&[0, 0]), vec![0.0, 0.0]);
    }

    fn incident(model: &str, policy: &str, severity: i32, a: Attribution) -> Incident {
        Incident {
            incident_id: Uuid::new_v4(),
            at: Utc::now(),
            tenant_id: Uuid::nil(),
            tenant_name: "t".into(),
            model: model.into(),
            policy_id: policy.into(),
            policy_version: "v1".into(),
            severity: Some(severity),
            attribution: a,
            rule: Rule::Reported,
        }
    }

    #[test]
    fn breakdown_counts_ranks_and_averages() {
        use Attribution::*;
        let list = vec![
            incident("a", "P", 1, ModelHallucination),
            incident("a", "P", 3, ModelHallucination),
            incident("a", "Q", 5, UserMisuse),
            incident("b", "Q", 2, UserMisuse),
        ];
        let (models, policies, matrix, attribution, rules) = breakdown(&list);
        assert_eq!(models[0].model, "a");
        assert_eq!(models[0].incident_count, 3);
        assert_eq!(models[0].pct, 75.0);
        assert_eq!(models[0].avg_severity, Some(3.0));
        assert_eq!(models[1].pct, 25.0);
        // P and Q tie on 2: by name.
        assert_eq!(policies[0].policy_id, "P");
        assert_eq!(policies[0].avg_severity, Some(2.0));
        assert_eq!(policies[1].avg_severity, Some(3.5));
        assert_eq!(matrix.models, vec!["a", "b"]);
        assert_eq!(matrix.cells.len(), 3);
        let aq = matrix
            .cells
            .iter()
            .find(|c| c.model == "a" && c.policy_id == "Q")
            .unwrap();
        assert_eq!((aq.incident_count, aq.avg_severity), (1, Some(5.0)));
        assert_eq!(attribution.len(), 6);
        assert_eq!(attribution.iter().map(|a| a.count).sum::<i64>(), 4);
        assert_eq!(attribution[0].pct + attribution[1].pct, 100.0);
        assert_eq!(
            rules,
            vec![RuleCount {
                rule: Rule::Reported,
                count: 4
            }]
        );
        assert!(breakdown(&[]).3.is_empty());
    }

    #[cfg(feature = "ssr")]
    fn timed(sev: &[i32]) -> Vec<(DateTime<Utc>, i32)> {
        let t0 = Utc::now();
        sev.iter()
            .enumerate()
            .map(|(i, &s)| (t0 + Duration::minutes(i as i64 * 5), s))
            .collect()
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn welch_matches_a_hand_computed_case() {
        // new: 3,4,5 (mean 4, var 1); base: 1,2,3 (mean 2, var 1); se² = 2/3, t = 2.449,
        // df = (2/3)² / (2·(1/3)²/2) = 4: one-sided p = 0.0352 (t tables).
        let e = evidence(&[3, 4, 5], &[1, 2, 3]).unwrap();
        assert_eq!(e.delta, 2.0);
        assert!((e.p_value - 0.0352).abs() < 0.0005, "{}", e.p_value);
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn a_regressing_rollout_is_found_with_when() {
        let baseline: Vec<i32> = [1, 2, 2, 3, 2, 1, 2, 3, 2, 2].repeat(5);
        let new = timed(&[3, 4, 4, 5, 3, 4, 2, 4, 3, 4]);
        let (e, at) = detect(&new, &baseline).expect("a regression");
        assert!(e.delta >= 1.5 && e.p_value < regression::ALPHA);
        // Not before the fifth incident; the first prefix that passes names the moment.
        let k = new.iter().position(|n| n.0 == at).unwrap() + 1;
        assert!(k >= regression::MIN_SAMPLES);
        let prefix: Vec<i32> = new[..k - 1].iter().map(|n| n.1).collect();
        assert!(evidence(&prefix, &baseline).is_none_or(|e| !e.regressed(baseline.len())));
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn a_rollout_that_does_not_regress_is_not_reported() {
        let baseline: Vec<i32> = [1, 2, 2, 3, 2, 1, 2, 3, 2, 2].repeat(5);
        // Slightly worse (+0.3) but under the 0.5 bar, however many samples.
        let new = timed(&[2, 3, 2, 2, 3, 2, 2, 3, 2, 2].repeat(10));
        assert!(detect(&new, &baseline).is_none());
        // Better: not a regression.
        assert!(detect(&timed(&[1; 30]), &baseline).is_none());
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn too_few_samples_are_not_enough() {
        let baseline: Vec<i32> = [1, 2, 2, 3, 2].repeat(10);
        // Four incidents of severity 5: a huge delta, but under the minimum of five.
        assert!(detect(&timed(&[5, 5, 5, 5]), &baseline).is_none());
        assert!(detect(&timed(&[5, 5, 5, 5, 5]), &baseline).is_some());
        // A baseline of four is too small as well.
        assert!(detect(&timed(&[5; 10]), &[1, 2, 1, 2]).is_none());
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn a_large_delta_on_noise_is_not_significant() {
        // Mean 3.0 against 2.0 but wildly spread: +1.0, yet p is far above 0.01.
        let baseline: Vec<i32> = [1, 2, 2, 3, 2].repeat(10);
        assert!(detect(&timed(&[1, 5, 1, 5, 3]), &baseline).is_none());
    }

    #[test]
    fn window_labels() {
        assert_eq!(window_label(1), "Last hour");
        assert_eq!(window_label(24), "Last 24 hours");
        assert_eq!(window_label(168), "Last 7 days");
    }
}
