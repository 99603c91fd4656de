//! Revenue & Risk: per-tenant unit economics over a window, and the four risk flags.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The windows the page offers, in days.
pub const WINDOWS: [i32; 3] = [7, 30, 90];
pub const DEFAULT_WINDOW: i32 = 30;
/// A month of subscription, for pro-rating the plan price.
pub const MONTH_DAYS: i64 = 30;
/// A tenant using more than this share of all LLM tokens is a resource hog.
pub const HOG_SHARE: f64 = 0.30;
/// More than this many times the average tenant's API calls is an abuse pattern.
pub const ABUSE_FACTOR: f64 = 10.0;

/// One tenant's raw figures for the window, as the stream gives them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct TenantUsage {
    pub tenant_id: Uuid,
    pub name: Option<String>,
    pub plan: Option<String>,
    pub price_usd_month: Option<Decimal>,
    /// The first `SUBSCRIPTION_STARTED`, else the tenant's first event.
    pub signup_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub llm_cost_usd: Decimal,
    pub llm_tokens: i64,
    pub api_calls: i64,
    pub incidents: i64,
    pub exports: i64,
    pub replays: i64,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum FlagKind {
    MarginNegative,
    ResourceHog,
    LegalExposure,
    AbusePattern,
}

impl FlagKind {
    /// The contract's name: `MARGIN_NEGATIVE`, ….
    pub fn code(self) -> &'static str {
        match self {
            FlagKind::MarginNegative => "MARGIN_NEGATIVE",
            FlagKind::ResourceHog => "RESOURCE_HOG",
            FlagKind::LegalExposure => "LEGAL_EXPOSURE",
            FlagKind::AbusePattern => "ABUSE_PATTERN",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FlagKind::MarginNegative => "Margin negative",
            FlagKind::ResourceHog => "Resource hog",
            FlagKind::LegalExposure => "Legal exposure",
            FlagKind::AbusePattern => "Abuse pattern",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Severity {
    Warning,
    Critical,
}

/// A risk flag and the numbers behind it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Flag {
    pub kind: FlagKind,
    pub severity: Severity,
    pub detail: String,
}

/// One row of the table and of `GET /api/v1/ops/revenue`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TenantEconomics {
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub plan: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub price_usd_month: Decimal,
    /// The plan price for the days subscribed within the window (none after cancellation).
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub revenue_usd: Decimal,
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub llm_cost_usd: Decimal,
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub margin_usd: Decimal,
    /// Margin as a share of revenue, in percent; null without revenue.
    pub margin_pct: Option<f64>,
    pub api_calls: i64,
    pub incidents: i64,
    pub exports: i64,
    pub replays: i64,
    pub llm_tokens: i64,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub flags: Vec<Flag>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RevenueTotals {
    /// Monthly price of every subscription active at `as_of`.
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub mrr_usd: Decimal,
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub revenue_usd: Decimal,
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub llm_cost_usd: Decimal,
    pub gross_margin_pct: Option<f64>,
    /// Average API calls per tenant in the window (the abuse flag's yardstick).
    pub api_calls_average: f64,
    pub llm_tokens: i64,
}

/// `GET /api/v1/ops/revenue` and the page.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Revenue {
    pub as_of: DateTime<Utc>,
    pub window_days: i32,
    pub totals: RevenueTotals,
    /// Lowest margin first.
    pub tenants: Vec<TenantEconomics>,
}

/// Dollars to the cent, always written with two decimals.
pub fn cents(d: Decimal) -> Decimal {
    let mut d = d.round_dp(2);
    d.rescale(2);
    d
}

fn money(d: Decimal) -> String {
    format!("${:.2}", d.round_dp(2))
}

/// The plan price for the part of `(as_of - window, as_of]` the tenant was subscribed:
/// `price × days / 30`, to the cent.
pub fn prorated_revenue(u: &TenantUsage, as_of: DateTime<Utc>, window_days: i32) -> Decimal {
    let price = u.price_usd_month.unwrap_or(Decimal::from(99));
    let from = (as_of - Duration::days(i64::from(window_days))).max(u.signup_at);
    let to = u.cancelled_at.map_or(as_of, |c| c.min(as_of));
    let seconds = (to - from).num_seconds().max(0);
    cents(price * Decimal::from(seconds) / Decimal::from(MONTH_DAYS * 86_400))
}

/// The table: each tenant's economics and flags, lowest margin first, and the totals.
pub fn economics(usages: &[TenantUsage], as_of: DateTime<Utc>, window_days: i32) -> Revenue {
    let n = usages.len().max(1) as f64;
    let api_calls_average = usages.iter().map(|u| u.api_calls).sum::<i64>() as f64 / n;
    let llm_tokens: i64 = usages.iter().map(|u| u.llm_tokens).sum();
    let mut tenants: Vec<TenantEconomics> = usages
        .iter()
        .map(|u| {
            let revenue_usd = prorated_revenue(u, as_of, window_days);
            // Cents: the column holds six decimals, the table and the API speak dollars.
            let llm_cost_usd = cents(u.llm_cost_usd);
            let margin_usd = revenue_usd - llm_cost_usd;
            let margin_pct = (!revenue_usd.is_zero()).then(|| {
                ((margin_usd / revenue_usd).to_f64().unwrap_or_default() * 1000.0).round() / 10.0
            });
            let mut flags = Vec::new();
            if margin_usd.is_sign_negative() && !margin_usd.is_zero() {
                flags.push(Flag {
                    kind: FlagKind::MarginNegative,
                    severity: Severity::Critical,
                    detail: format!(
                        "LLM cost {} is more than revenue {}",
                        money(llm_cost_usd),
                        money(revenue_usd)
                    ),
                });
            }
            let share = if llm_tokens > 0 {
                u.llm_tokens as f64 / llm_tokens as f64
            } else {
                0.0
            };
            if share > HOG_SHARE {
                flags.push(Flag {
                    kind: FlagKind::ResourceHog,
                    severity: Severity::Critical,
                    detail: format!(
                        "{:.1}% of all LLM tokens ({} of {})",
                        share * 100.0,
                        u.llm_tokens,
                        llm_tokens
                    ),
                });
            }
            if u.exports > 0 && u.replays == 0 {
                flags.push(Flag {
                    kind: FlagKind::LegalExposure,
                    severity: Severity::Warning,
                    detail: format!(
                        "{} export{} and no replay: evidence handed out unchecked",
                        u.exports,
                        if u.exports == 1 { "" } else { "s" }
                    ),
                });
            }
            if api_calls_average > 0.0 && u.api_calls as f64 > ABUSE_FACTOR * api_calls_average {
                flags.push(Flag {
                    kind: FlagKind::AbusePattern,
                    severity: Severity::Warning,
                    detail: format!(
                        "{} API calls, {:.1}× the average of {:.0}",
                        u.api_calls,
                        u.api_calls as f64 / api_calls_average,
                        api_calls_average
                    ),
                });
            }
            TenantEconomics {
                tenant_id: u.tenant_id,
                tenant_name: super::tenant_label(u.tenant_id, u.name.as_deref()),
                plan: u.plan.clone(),
                price_usd_month: u.price_usd_month.unwrap_or(Decimal::from(99)),
                revenue_usd,
                llm_cost_usd,
                margin_usd,
                margin_pct,
                api_calls: u.api_calls,
                incidents: u.incidents,
                exports: u.exports,
                replays: u.replays,
                llm_tokens: u.llm_tokens,
                cancelled_at: u.cancelled_at.filter(|c| *c <= as_of),
                flags,
            }
        })
        .collect();
    tenants.sort_by(|a, b| {
        a.margin_usd
            .cmp(&b.margin_usd)
            .then_with(|| a.tenant_name.cmp(&b.tenant_name))
    });
    let revenue_usd: Decimal = tenants.iter().map(|t| t.revenue_usd).sum();
    let llm_cost_usd: Decimal = tenants.iter().map(|t| t.llm_cost_usd).sum();
    let mrr_usd = usages
        .iter()
        .filter(|u| u.signup_at <= as_of && u.cancelled_at.is_none_or(|c| c > as_of))
        .map(|u| u.price_usd_month.unwrap_or(Decimal::from(99)))
        .sum();
    let gross_margin_pct = (!revenue_usd.is_zero()).then(|| {
        (((revenue_usd - llm_cost_usd) / revenue_usd)
            .to_f64()
            .unwrap_or_default()
            * 1000.0)
            .round()
            / 10.0
    });
    Revenue {
        as_of,
        window_days,
        totals: RevenueTotals {
            mrr_usd: cents(mrr_usd),
            revenue_usd: cents(revenue_usd),
            llm_cost_usd: cents(llm_cost_usd),
            gross_margin_pct,
            api_calls_average: (api_calls_average * 10.0).round() / 10.0,
            llm_tokens,
        },
        tenants,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
    }

    fn usage(n: u128) -> TenantUsage {
        TenantUsage {
            tenant_id: Uuid::from_u128(n),
            name: Some(format!("t{n:02}")),
            price_usd_month: Some(Decimal::from(99)),
            signup_at: t0() - Duration::days(100),
            ..TenantUsage::default()
        }
    }

    fn kinds(r: &Revenue, n: u128) -> Vec<FlagKind> {
        let t = r
            .tenants
            .iter()
            .find(|t| t.tenant_id == Uuid::from_u128(n))
            .unwrap();
        t.flags.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn revenue_is_prorated_and_stops_at_cancellation() {
        let mut u = usage(1);
        assert_eq!(prorated_revenue(&u, t0(), 30), Decimal::from(99));
        assert_eq!(prorated_revenue(&u, t0(), 7), Decimal::new(2310, 2));
        u.signup_at = t0() - Duration::days(10);
        assert_eq!(prorated_revenue(&u, t0(), 30), Decimal::new(3300, 2));
        u.cancelled_at = Some(t0() - Duration::days(4));
        assert_eq!(prorated_revenue(&u, t0(), 30), Decimal::new(1980, 2));
        u.cancelled_at = Some(t0() - Duration::days(40));
        assert_eq!(prorated_revenue(&u, t0(), 30), Decimal::ZERO);
    }

    #[test]
    fn margin_negative_only_past_zero() {
        let mut even = usage(1);
        even.llm_cost_usd = Decimal::from(99);
        let mut past = usage(2);
        past.llm_cost_usd = Decimal::new(9901, 2);
        let r = economics(&[even, past], t0(), 30);
        assert!(kinds(&r, 1).is_empty());
        assert_eq!(kinds(&r, 2), vec![FlagKind::MarginNegative]);
        assert_eq!(
            r.tenants[0].tenant_id,
            Uuid::from_u128(2),
            "lowest margin first"
        );
        assert_eq!(r.tenants[0].margin_usd, Decimal::new(-1, 2));
    }

    #[test]
    fn resource_hog_past_thirty_percent_of_tokens() {
        // 30 of 100 tokens is not more than 30%; 301 of 1000 is.
        let mut a = usage(1);
        a.llm_tokens = 30;
        let mut b = usage(2);
        b.llm_tokens = 70;
        let r = economics(&[a.clone(), b.clone()], t0(), 30);
        assert!(kinds(&r, 1).is_empty());
        assert_eq!(kinds(&r, 2), vec![FlagKind::ResourceHog]);
        a.llm_tokens = 301;
        b.llm_tokens = 699;
        let mut c = usage(3);
        c.llm_tokens = 0;
        let r = economics(&[a, b, c], t0(), 30);
        assert_eq!(kinds(&r, 1), vec![FlagKind::ResourceHog]);
    }

    #[test]
    fn abuse_past_ten_times_the_average() {
        // Twelve tenants: eleven with 10 calls, one with 550: the average is 55, and 550 is
        // exactly ten times it, not more. 551 is.
        let mut all: Vec<TenantUsage> = (1..=11)
            .map(|n| TenantUsage {
                api_calls: 10,
                ..usage(n)
            })
            .collect();
        all.push(TenantUsage {
            api_calls: 550,
            ..usage(12)
        });
        let r = economics(&all, t0(), 30);
        assert_eq!(r.totals.api_calls_average, 55.0);
        assert!(kinds(&r, 12).is_empty());
        all[11].api_calls = 551;
        let r = economics(&all, t0(), 30);
        assert_eq!(kinds(&r, 12), vec![FlagKind::AbusePattern]);
    }

    #[test]
    fn legal_exposure_is_exports_without_a_replay() {
        let mut a = usage(1);
        a.exports = 1;
        let mut b = usage(2);
        b.exports = 3;
        b.replays = 1;
        let r = economics(&[a, b], t0(), 30);
        assert_eq!(kinds(&r, 1), vec![FlagKind::LegalExposure]);
        assert!(kinds(&r, 2).is_empty());
    }

    #[test]
    fn totals_add_up() {
        let mut a = usage(1);
        a.llm_cost_usd = Decimal::from(9);
        let mut b = usage(2);
        b.price_usd_month = Some(Decimal::from(49));
        b.cancelled_at = Some(t0() - Duration::days(15));
        b.llm_cost_usd = Decimal::new(450, 2);
        let r = economics(&[a, b], t0(), 30);
        // Revenue 99 + 24.50; cost 13.50; MRR counts only the live subscription.
        assert_eq!(r.totals.revenue_usd, Decimal::new(12350, 2));
        assert_eq!(r.totals.llm_cost_usd, Decimal::new(1350, 2));
        assert_eq!(r.totals.mrr_usd, Decimal::from(99));
        assert_eq!(r.totals.gross_margin_pct, Some(89.1));
        let sum: Decimal = r.tenants.iter().map(|t| t.margin_usd).sum();
        assert_eq!(sum, r.totals.revenue_usd - r.totals.llm_cost_usd);
    }
}
