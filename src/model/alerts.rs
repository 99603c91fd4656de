//! Alerts: the thresholds the founder can edit, the webhooks that hear about changes, and the
//! history of what was raised.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::pulse::Thresholds;

/// One editable threshold: its key in `ops_alert_thresholds`, how the settings page names it,
/// and whether it is stored as a share (0.05) though shown and typed as a percentage (5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThresholdField {
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub share: bool,
}

pub const THRESHOLD_FIELDS: [ThresholdField; 6] = [
    ThresholdField {
        key: "tenant_drop_pct",
        label: "Active tenants drop",
        help: "Alert when active tenants fall by more than this against the previous 24 h.",
        share: false,
    },
    ThresholdField {
        key: "incident_spike_pct",
        label: "Incident spike",
        help: "Alert when incidents rise by more than this against the previous 24 h.",
        share: false,
    },
    ThresholdField {
        key: "replay_drop_pct",
        label: "Replays drop",
        help: "Silent degradation when replays fall by more than this.",
        share: false,
    },
    ThresholdField {
        key: "export_drop_pct",
        label: "Exports drop",
        help: "Silent degradation when exports fall by more than this.",
        share: false,
    },
    ThresholdField {
        key: "llm_failure_rate",
        label: "Failed LLM calls",
        help: "Active failure when more than this share of LLM calls fail.",
        share: true,
    },
    ThresholdField {
        key: "infra_saturation",
        label: "Infra saturation",
        help: "Active failure when any resource uses more than this share of its limit.",
        share: true,
    },
];

impl Thresholds {
    /// The stored value of a key; `None` for a key that is not a threshold.
    pub fn get(&self, key: &str) -> Option<f64> {
        Some(match key {
            "tenant_drop_pct" => self.tenant_drop_pct,
            "incident_spike_pct" => self.incident_spike_pct,
            "replay_drop_pct" => self.replay_drop_pct,
            "export_drop_pct" => self.export_drop_pct,
            "llm_failure_rate" => self.llm_failure_rate,
            "infra_saturation" => self.infra_saturation,
            _ => return None,
        })
    }

    fn slot(&mut self, key: &str) -> Option<&mut f64> {
        Some(match key {
            "tenant_drop_pct" => &mut self.tenant_drop_pct,
            "incident_spike_pct" => &mut self.incident_spike_pct,
            "replay_drop_pct" => &mut self.replay_drop_pct,
            "export_drop_pct" => &mut self.export_drop_pct,
            "llm_failure_rate" => &mut self.llm_failure_rate,
            "infra_saturation" => &mut self.infra_saturation,
            _ => return None,
        })
    }

    /// Sets a key from its stored value; unknown keys are ignored (a newer server's rows).
    pub fn set(&mut self, key: &str, value: f64) {
        if let Some(slot) = self.slot(key) {
            *slot = value;
        }
    }

    /// Reads what the settings form sent, percentages as typed, into stored values. Every
    /// field must be there and make sense; the error names each one that does not.
    pub fn from_form(fields: &[(String, String)]) -> Result<Thresholds, Vec<String>> {
        let mut thresholds = Thresholds::default();
        let mut problems = Vec::new();
        for field in THRESHOLD_FIELDS {
            let typed = fields
                .iter()
                .find(|(k, _)| k == field.key)
                .map(|(_, v)| v.trim())
                .unwrap_or("");
            if typed.is_empty() {
                problems.push(format!("{}: enter a percentage", field.label));
                continue;
            }
            let percent = match typed.parse::<f64>() {
                Ok(p) if p.is_finite() => p,
                _ => {
                    problems.push(format!("{}: {typed:?} is not a number", field.label));
                    continue;
                }
            };
            let most = if field.key == "incident_spike_pct" {
                10_000.0
            } else {
                100.0
            };
            if percent <= 0.0 || percent > most {
                problems.push(format!(
                    "{}: must be more than 0% and at most {most}%",
                    field.label
                ));
                continue;
            }
            thresholds.set(
                field.key,
                if field.share {
                    percent / 100.0
                } else {
                    percent
                },
            );
        }
        if problems.is_empty() {
            Ok(thresholds)
        } else {
            Err(problems)
        }
    }

    /// The value as the settings page shows it: a percentage.
    pub fn percent(&self, field: &ThresholdField) -> f64 {
        let v = self.get(field.key).unwrap_or_default();
        let p = if field.share { v * 100.0 } else { v };
        (p * 1000.0).round() / 1000.0
    }
}

/// A configured webhook, its address shown with the secret part hidden.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Webhook {
    pub id: i64,
    pub shown_url: String,
    pub created_at: DateTime<Utc>,
}

/// Webhook addresses carry their secret in the path (Slack's do): show scheme, host and the
/// last four characters only.
pub fn mask_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if path.is_empty() {
        return format!("{scheme}://{host}/");
    }
    let tail: String = {
        let chars: Vec<char> = path.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    format!("{scheme}://{host}/…{tail}")
}

/// How far one alert got to one webhook.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Delivery {
    pub shown_url: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// One raised alert, as the history lists it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AlertRecord {
    pub id: i64,
    /// `system_state`, or `threshold:<card key>`.
    pub subject: String,
    pub from_value: String,
    pub to_value: String,
    pub text: String,
    pub raised_at: DateTime<Utc>,
    pub deliveries: Vec<Delivery>,
}

impl AlertRecord {
    /// Whether this alert is news of things getting worse (for its colour).
    pub fn worsened(&self) -> bool {
        match self.subject.as_str() {
            "system_state" => state_rank(&self.to_value) > state_rank(&self.from_value),
            _ => self.to_value == "crossed",
        }
    }
}

fn state_rank(value: &str) -> u8 {
    match value {
        "SILENT_DEGRADATION" => 1,
        "ACTIVE_FAILURE" => 2,
        _ => 0,
    }
}

/// The settings page: the thresholds in force and the webhooks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AlertSettings {
    pub thresholds: Thresholds,
    pub webhooks: Vec<Webhook>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(values: [&str; 6]) -> Vec<(String, String)> {
        THRESHOLD_FIELDS
            .iter()
            .zip(values)
            .map(|(f, v)| (f.key.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn the_form_takes_percentages_and_stores_shares() {
        let t = Thresholds::from_form(&form(["25", "60", "35", "45", "7.5", "90"])).unwrap();
        assert_eq!(t.tenant_drop_pct, 25.0);
        assert_eq!(t.incident_spike_pct, 60.0);
        assert_eq!(t.llm_failure_rate, 0.075);
        assert_eq!(t.infra_saturation, 0.9);
        assert_eq!(t.percent(&THRESHOLD_FIELDS[4]), 7.5);
        let spec = Thresholds::default();
        let shown: Vec<f64> = THRESHOLD_FIELDS.iter().map(|f| spec.percent(f)).collect();
        assert_eq!(shown, vec![20.0, 50.0, 30.0, 40.0, 5.0, 80.0]);
    }

    #[test]
    fn the_form_names_every_bad_field() {
        let problems =
            Thresholds::from_form(&form(["0", "60", "abc", "", "101", "80"])).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("Active tenants drop"));
        assert!(problems[1].starts_with("Replays drop"));
        assert!(problems[2].starts_with("Exports drop: enter"));
        assert!(problems[3].starts_with("Failed LLM calls"));
        let missing = Thresholds::from_form(&[]).unwrap_err();
        assert_eq!(missing.len(), 6);
        assert!(Thresholds::from_form(&form(["20", "500", "30", "40", "5", "80"])).is_ok());
        assert!(Thresholds::from_form(&form(["20", "50", "30", "40", "NaN", "80"])).is_err());
    }

    #[test]
    fn webhook_secrets_are_not_shown() {
        assert_eq!(
            mask_url("https://hooks.slack.com/services/T000/B000/XXXXabcd"),
            "https://hooks.slack.com/…abcd"
        );
        assert_eq!(mask_url("http://127.0.0.1:9000"), "http://127.0.0.1:9000/");
    }

    #[test]
    fn worse_is_a_higher_state_or_a_crossing() {
        let alert = |subject: &str, from: &str, to: &str| AlertRecord {
            id: 1,
            subject: subject.into(),
            from_value: from.into(),
            to_value: to.into(),
            text: String::new(),
            raised_at: DateTime::UNIX_EPOCH,
            deliveries: vec![],
        };
        assert!(alert("system_state", "STABLE", "ACTIVE_FAILURE").worsened());
        assert!(!alert("system_state", "ACTIVE_FAILURE", "SILENT_DEGRADATION").worsened());
        assert!(alert("threshold:exports", "ok", "crossed").worsened());
        assert!(!alert("threshold:exports", "crossed", "ok").worsened());
    }
}
