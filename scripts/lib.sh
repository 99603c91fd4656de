# shellcheck shell=bash
# Helpers shared by scripts/start and scripts/test. Source it; do not run it.
#
# Every ensure_* step is idempotent and returns quickly when its work is already done.
# The private PostgreSQL cluster lives under .ops/pg (see pg_start).

set -euo pipefail

OPS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
export OPS_ROOT

# Pinned tool versions: later cargo-leptos releases need a newer rustc than 1.95, and the
# wasm-bindgen CLI must equal the `wasm-bindgen` crate pinned in Cargo.toml.
OPS_CARGO_LEPTOS_VERSION="0.3.11"
OPS_CARGO_FUZZ_VERSION="0.13.2"
OPS_WASM_BINDGEN_VERSION="0.2.130"

# Progress lines go to stderr so that functions used in $(...) print only their value.
step() { printf '==> %s\n' "$*" >&2; }
warn() { printf '==> WARNING: %s\n' "$*" >&2; }
die() { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }

# as_root CMD...: run a command as root (directly when we are root, else through sudo).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root for: $* (not root and no sudo)"
  fi
}

# random_hex N: N random bytes as 2N hex characters.
random_hex() {
  od -An -tx1 -N"${1:-24}" /dev/urandom | tr -d ' \n'
}

# ensure_secret FILE [BYTES]: create FILE (mode 0600) with a random hex value once.
ensure_secret() {
  local file="$1" bytes="${2:-24}"
  if [ ! -s "$file" ]; then
    mkdir -p "$(dirname "$file")"
    (umask 077 && random_hex "$bytes" >"$file")
    step "generated $(realpath --relative-to="$OPS_ROOT" "$file" 2>/dev/null || echo "$file")"
  fi
  chmod 600 "$file"
}

# ---------------------------------------------------------------------------------------------
# apt
# ---------------------------------------------------------------------------------------------

_OPS_APT_UPDATED="${_OPS_APT_UPDATED:-0}"

# ensure_apt PKG...: install the Debian packages that are missing; `apt-get update` at most once.
ensure_apt() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get"
  if [ "$_OPS_APT_UPDATED" != 1 ]; then
    step "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    _OPS_APT_UPDATED=1
  fi
  step "apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ---------------------------------------------------------------------------------------------
# Rust tools
# ---------------------------------------------------------------------------------------------

_ops_cargo_bin_on_path() {
  local bin="${CARGO_HOME:-$HOME/.cargo}/bin"
  case ":$PATH:" in *":$bin:"*) ;; *) [ -d "$bin" ] && PATH="$bin:$PATH" ;; esac
  export PATH
}

# ensure_rust_tools: wasm32 target, cargo-leptos and the wasm-bindgen CLI at the pinned versions.
ensure_rust_tools() {
  _ops_cargo_bin_on_path
  command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust with rustup first)"
  if ! rustup target list --installed 2>/dev/null | grep -qx 'wasm32-unknown-unknown'; then
    step "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  if ! cargo leptos --version 2>/dev/null | grep -qF "$OPS_CARGO_LEPTOS_VERSION"; then
    step "cargo install cargo-leptos $OPS_CARGO_LEPTOS_VERSION (10-16 min cold)"
    cargo install cargo-leptos --version "$OPS_CARGO_LEPTOS_VERSION" --locked --ignore-rust-version
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -qF "$OPS_WASM_BINDGEN_VERSION"; then
    # Without --locked on purpose: its lockfile names a yanked crate.
    step "cargo install wasm-bindgen-cli $OPS_WASM_BINDGEN_VERSION"
    cargo install wasm-bindgen-cli --version "$OPS_WASM_BINDGEN_VERSION"
  fi
}

# ensure_cargo_fuzz: cargo-fuzz at the pinned version (the fuzz target of the ingestion rules).
ensure_cargo_fuzz() {
  _ops_cargo_bin_on_path
  if ! cargo fuzz --version 2>/dev/null | grep -qF "$OPS_CARGO_FUZZ_VERSION"; then
    step "cargo install cargo-fuzz $OPS_CARGO_FUZZ_VERSION (about 2 min cold)"
    cargo install cargo-fuzz --version "$OPS_CARGO_FUZZ_VERSION" --locked
  fi
}

# fuzz_ingest SECONDS: runs the ingestion fuzz target for SECONDS from the committed seeds, on a
# working copy of the corpus under .ops/, so the repository stays as it is. Fails on a crash,
# leaving the input in crates/ops-ingest/fuzz/artifacts/.
fuzz_ingest() {
  local seconds="$1" corpus="$OPS_ROOT/.ops/fuzz-corpus/ingest"
  mkdir -p "$corpus"
  cp -n "$OPS_ROOT"/crates/ops-ingest/fuzz/corpus/ingest/* "$corpus"/ 2>/dev/null || true
  # No sanitizer: the target is safe Rust, and this builds on the stable toolchain.
  (cd "$OPS_ROOT/crates/ops-ingest/fuzz" &&
    cargo fuzz run --sanitizer none ingest "$corpus" -- \
      -max_total_time="$seconds" -max_len=65536 -timeout=5 -print_final_stats=1)
}

# ensure_rust_components COMPONENT...: e.g. rustfmt clippy.
ensure_rust_components() {
  _ops_cargo_bin_on_path
  local installed c missing=()
  installed="$(rustup component list --installed 2>/dev/null || true)"
  for c in "$@"; do
    grep -q "^$c" <<<"$installed" || missing+=("$c")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    step "rustup component add ${missing[*]}"
    rustup component add "${missing[@]}"
  fi
}

# ---------------------------------------------------------------------------------------------
# npm (echarts + binaryen in the root, Playwright in end2end)
# ---------------------------------------------------------------------------------------------

# _ops_npm_install DIR: npm ci (or npm install when there is no lockfile yet), skipped when
# node_modules is newer than package.json and package-lock.json.
_ops_npm_install() {
  local dir="$1" marker="$1/node_modules/.package-lock.json"
  if [ -f "$dir/package-lock.json" ] && [ -f "$marker" ] \
    && [ "$marker" -nt "$dir/package.json" ] && [ "$marker" -nt "$dir/package-lock.json" ]; then
    return 0
  fi
  local rel
  rel="$(realpath --relative-to="$OPS_ROOT" "$dir")"
  if [ -f "$dir/package-lock.json" ]; then
    step "npm ci ($rel)"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  else
    step "npm install ($rel, no lockfile yet)"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund)
  fi
  # npm ci may leave the marker older than a freshly written lockfile; make the skip test hold.
  [ -f "$marker" ] && touch "$marker"
  return 0
}

# ensure_npm: node packages, public/vendor/echarts.min.js, binaryen's wasm-opt first on PATH.
ensure_npm() {
  command -v npm >/dev/null 2>&1 || ensure_apt nodejs npm
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  _ops_npm_install "$OPS_ROOT"
  _ops_npm_install "$OPS_ROOT/end2end"

  local src="$OPS_ROOT/node_modules/echarts/dist/echarts.min.js"
  local dst="$OPS_ROOT/public/vendor/echarts.min.js"
  [ -f "$src" ] || die "$src missing after npm install"
  if ! cmp -s "$src" "$dst" 2>/dev/null; then
    step "copy echarts.min.js to public/vendor/"
    mkdir -p "$(dirname "$dst")"
    cp "$src" "$dst"
  fi

  local bin="$OPS_ROOT/node_modules/.bin"
  case ":$PATH:" in "$bin:"*) ;; *) PATH="$bin:$PATH" ;; esac
  export PATH
  command -v wasm-opt >/dev/null 2>&1 || die "wasm-opt (npm binaryen) not on PATH"
}

# ---------------------------------------------------------------------------------------------
# Private PostgreSQL cluster
#
# Data .ops/pg/data, sockets .ops/pg/run, log .ops/pg/log, port ${OPS_PG_PORT:-55432},
# superuser `ops` with the password in .ops/pg/password (scram-sha-256, 127.0.0.1 only).
# As root the server runs as the system user `postgres` (initdb refuses root).
# ---------------------------------------------------------------------------------------------

OPS_PG_PORT="${OPS_PG_PORT:-55432}"
OPS_PG_PASSWORD_FILE="$OPS_ROOT/.ops/pg/password"
_OPS_PG_STARTED=0
_OPS_PG_READY=0

# pg_bindir: the newest /usr/lib/postgresql/*/bin (installs postgresql when there is none).
_pg_newest_bindir() {
  find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1
}

pg_bindir() {
  local dir
  dir="$(_pg_newest_bindir)"
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    ensure_apt postgresql >&2
    dir="$(_pg_newest_bindir)"
  fi
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    die "no PostgreSQL server binaries in /usr/lib/postgresql"
  fi
  printf '%s\n' "$dir"
}

# _pg_as_owner CMD...: run as the cluster's owner (postgres when we are root, else ourselves).
_pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# _pg_setup: decide PG_BIN / PG_ROOT / PG_DATA / PG_RUN / PG_LOG (once per run).
_pg_setup() {
  [ "$_OPS_PG_READY" = 1 ] && return 0
  PG_BIN="$(pg_bindir)"
  PG_ROOT="$OPS_ROOT/.ops/pg"
  mkdir -p "$PG_ROOT"
  if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      step "creating system user postgres"
      useradd --system --user-group --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
    fi
    chmod 755 "$OPS_ROOT/.ops" "$PG_ROOT"
    if ! runuser -u postgres -- test -x "$PG_ROOT"; then
      local hash
      hash="$(printf '%s' "$OPS_ROOT" | sha256sum | cut -c1-10)"
      PG_ROOT="/var/tmp/ops-console-pg-$hash"
      warn "user postgres cannot reach $OPS_ROOT/.ops/pg; the cluster lives in $PG_ROOT instead"
      mkdir -p "$PG_ROOT"
      chmod 755 "$PG_ROOT"
    fi
  fi
  PG_DATA="$PG_ROOT/data"
  PG_RUN="$PG_ROOT/run"
  PG_LOG="$PG_ROOT/log"
  # A Unix socket path may not exceed 107 bytes: deep checkouts get their sockets under /tmp.
  if [ "${#PG_RUN}" -gt 80 ]; then
    PG_RUN="/tmp/ops-pg-$(printf '%s' "$OPS_ROOT" | sha256sum | cut -c1-10)"
  fi
  mkdir -p "$PG_DATA" "$PG_RUN"
  touch "$PG_LOG"
  chmod 700 "$PG_DATA"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$PG_DATA" "$PG_RUN" "$PG_LOG"
    [ -f "$PG_DATA/PG_VERSION" ] || chown -R postgres: "$PG_DATA"
  fi
  _OPS_PG_READY=1
}

_pg_password() {
  [ -s "$OPS_PG_PASSWORD_FILE" ] || die "$OPS_PG_PASSWORD_FILE missing (remove .ops/pg to start afresh)"
  cat "$OPS_PG_PASSWORD_FILE"
}

_pg_running() {
  _pg_as_owner "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1
}

# _pg_port: the port of the running cluster (from postmaster.pid), else $OPS_PG_PORT.
_pg_port() {
  local port=""
  if [ -r "$PG_DATA/postmaster.pid" ]; then
    port="$(sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
  fi
  printf '%s\n' "${port:-$OPS_PG_PORT}"
}

_pg_initdb() {
  step "initdb (PostgreSQL $(basename "$(dirname "$PG_BIN")")) in $PG_DATA"
  if [ ! -s "$OPS_PG_PASSWORD_FILE" ]; then
    mkdir -p "$(dirname "$OPS_PG_PASSWORD_FILE")"
    (umask 077 && random_hex 24 >"$OPS_PG_PASSWORD_FILE")
  fi
  chmod 600 "$OPS_PG_PASSWORD_FILE"
  # initdb runs as the owner, who may not read our password file: hand it a private copy.
  local pwfile="$PG_ROOT/.initdb-pw"
  (umask 077 && cp "$OPS_PG_PASSWORD_FILE" "$pwfile")
  [ "$(id -u)" -eq 0 ] && chown postgres: "$pwfile"
  if ! _pg_as_owner "$PG_BIN/initdb" -D "$PG_DATA" --auth=scram-sha-256 --username=ops \
    --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 >"$PG_ROOT/initdb.log" 2>&1; then
    rm -f "$pwfile"
    cat "$PG_ROOT/initdb.log" >&2
    # Leave an empty data dir so that the next run can initdb again.
    find "$PG_DATA" -mindepth 1 -delete 2>/dev/null || true
    die "initdb failed"
  fi
  rm -f "$pwfile"
  # Our settings live in ops.conf, rewritten at every start.
  printf "\n# Ops Console private cluster\ninclude_if_exists = 'ops.conf'\n" \
    | _pg_as_owner tee -a "$PG_DATA/postgresql.conf" >/dev/null
}

_pg_write_conf() {
  local conf
  conf="$(cat <<CONF
# Written by scripts/lib.sh at every start; edits are lost.
listen_addresses = '127.0.0.1'
port = $OPS_PG_PORT
unix_socket_directories = '$PG_RUN'
max_connections = 200
fsync = on
synchronous_commit = on
full_page_writes = on
timezone = 'UTC'
log_timezone = 'UTC'
# Room for the rollups and the recent end of ops_events (the default is 128 MB).
shared_buffers = '1GB'
effective_cache_size = '4GB'
CONF
)"
  printf '%s\n' "$conf" | _pg_as_owner tee "$PG_DATA/ops.conf" >/dev/null
}

# pg_start: start the cluster (initdb on first use); a no-op when it is already running.
pg_start() {
  _pg_setup
  [ -f "$PG_DATA/PG_VERSION" ] || _pg_initdb
  if _pg_running; then
    step "PostgreSQL already running on port $(_pg_port)"
    return 0
  fi
  _pg_write_conf
  step "starting PostgreSQL on 127.0.0.1:$OPS_PG_PORT"
  if ! _pg_as_owner "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t 60 >/dev/null; then
    tail -n 30 "$PG_LOG" >&2 || true
    die "PostgreSQL did not start (log: $PG_LOG)"
  fi
  _OPS_PG_STARTED=1
}

# pg_stop: stop the cluster if it runs.
pg_stop() {
  _pg_setup
  if _pg_running; then
    step "stopping PostgreSQL"
    _pg_as_owner "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 >/dev/null || warn "pg_ctl stop failed"
  fi
  _OPS_PG_STARTED=0
}

# pg_stop_if_started: stop the cluster only when this run started it.
pg_stop_if_started() {
  if [ "$_OPS_PG_STARTED" = 1 ]; then
    pg_stop
  fi
}

# pg_url NAME: connection URL for database NAME as the superuser ops.
pg_url() {
  _pg_setup
  local pw
  pw="$(_pg_password)"
  printf 'postgres://ops:%s@127.0.0.1:%s/%s\n' "$pw" "$(_pg_port)" "$1"
}

# pg_psql [ARGS...]: psql as ops on the maintenance database `postgres`.
pg_psql() {
  _pg_setup
  local psql="$PG_BIN/psql" pw
  [ -x "$psql" ] || psql="psql"
  pw="$(_pg_password)"
  PGPASSWORD="$pw" PGOPTIONS="-c client_min_messages=warning" "$psql" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$(_pg_port)" -U ops -d postgres "$@"
}

_pg_check_name() {
  [[ "$1" =~ ^[a-z_][a-z0-9_]*$ ]] || die "bad database name: $1"
}

# pg_ensure_db NAME: create database NAME when it does not exist.
pg_ensure_db() {
  _pg_check_name "$1"
  if [ "$(pg_psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'")" != 1 ]; then
    step "creating database $1"
    pg_psql -c "CREATE DATABASE \"$1\""
  fi
}

# pg_drop_db NAME: drop database NAME (disconnecting its sessions) if it exists.
pg_drop_db() {
  _pg_check_name "$1"
  pg_psql -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"
}

# pg_recreate_db NAME: an empty database NAME.
pg_recreate_db() {
  step "recreating database $1"
  pg_drop_db "$1"
  pg_psql -c "CREATE DATABASE \"$1\""
}
