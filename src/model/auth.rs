use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The signed-in operator, as the shell shows them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    pub operator_id: Uuid,
    pub email: String,
}

/// Why the sign-in page is shown again, carried in its query string after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginProblem {
    WrongCredentials,
    Throttled,
    Unavailable,
}

impl LoginProblem {
    pub fn code(self) -> &'static str {
        match self {
            LoginProblem::WrongCredentials => "invalid",
            LoginProblem::Throttled => "throttled",
            LoginProblem::Unavailable => "unavailable",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "invalid" => Some(LoginProblem::WrongCredentials),
            "throttled" => Some(LoginProblem::Throttled),
            "unavailable" => Some(LoginProblem::Unavailable),
            _ => None,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            LoginProblem::WrongCredentials => "Wrong email or password.",
            LoginProblem::Throttled => {
                "Too many failed sign-in attempts. Wait 15 minutes, then try again."
            }
            LoginProblem::Unavailable => {
                "The database is unavailable, so nobody can sign in right now. Try again shortly."
            }
        }
    }
}

/// Where to go after signing in: only a path on this site, never another origin.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_never_leaves_the_site() {
        assert_eq!(safe_next(Some("/events?x=1")), "/events?x=1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "evil",
            "/\\evil.example",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
