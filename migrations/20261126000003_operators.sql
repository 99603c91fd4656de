-- Why: the console is private. Operators sign in with an email and an argon2-hashed password;
-- a signed-in browser holds an opaque session token whose SHA-256 alone is stored, so a leaked
-- table cannot be replayed as a cookie. Failed sign-ins are recorded to throttle guessing per
-- account and per address, across every server instance sharing this database.
CREATE TABLE operators (
    operator_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
    password_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE operator_sessions (
    token_sha256 BYTEA PRIMARY KEY,
    operator_id UUID NOT NULL REFERENCES operators(operator_id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_operator_sessions_expiry ON operator_sessions(expires_at);

CREATE TABLE login_failures (
    failure_id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_login_failures_email ON login_failures(email, failed_at);
CREATE INDEX idx_login_failures_addr ON login_failures(client_addr, failed_at);
