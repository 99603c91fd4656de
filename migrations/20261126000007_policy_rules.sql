-- Why: the Replay Lab re-runs an incident under another policy version, so each version's rules
-- must be data the engine can evaluate, not code. The demo world's versions are seeded: v12 of
-- CONTENT_ACCURACY is the regressed one (it lets ungrounded answers through, flagged), v11
-- rewrites them into an abstention.
CREATE TABLE ops_policy_rules (
    policy_id TEXT NOT NULL CHECK (policy_id <> ''),
    version TEXT NOT NULL CHECK (version <> ''),
    rules JSONB NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (policy_id, version)
);

INSERT INTO ops_policy_rules (policy_id, version, rules, description) VALUES
('CONTENT_ACCURACY', 'v11',
 '{"kind": "grounding", "on_fail": "rewrite", "severity": 4, "caught_severity": 1}',
 'Answers must be grounded in the context; an ungrounded answer is replaced by an abstention.'),
('CONTENT_ACCURACY', 'v12',
 '{"kind": "grounding", "on_fail": "pass", "severity": 4, "caught_severity": 1}',
 'Answers must be grounded in the context; an ungrounded answer is only flagged.'),
('SAFETY_BASIC', 'v3',
 '{"kind": "safety", "on_fail": "rewrite", "severity": 4, "caught_severity": 2, "patterns": ["ignore all previous instructions", "system prompt", "my instructions are", "bypass", "without the password", "you will regret"]}',
 'Prompt injection and unsafe requests are refused.'),
('PII_FILTER', 'v5',
 '{"kind": "pii", "on_fail": "rewrite", "severity": 3, "caught_severity": 1}',
 'Card numbers, social security numbers and e-mail addresses are redacted from answers.');
