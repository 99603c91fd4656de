//! The `ops-console` binary: the server and its operator commands.

/// jemalloc instead of the system allocator: under load the server's many short-lived large
/// buffers (query rows, rendered pages) left glibc's heap at 1.3–2 GB resident after a minute
/// of 100 sessions; jemalloc reuses and returns that memory (see `BENCHMARKS.md`).
#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(feature = "ssr")]
mod cli {
    use std::io::Read;
    use std::process::ExitCode;
    use std::time::Duration;

    use clap::{Parser, Subcommand};
    use leptos::config::get_configuration;
    use ops_console::server::{alerts, auth, collector, config::Config, db, demo, http};

    #[derive(Parser)]
    #[command(
        name = "ops-console",
        version,
        about = "Ops Console: the founder's view of the business, from its event stream"
    )]
    struct Cli {
        #[command(subcommand)]
        command: Option<Command>,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Run the server (the default).
        Serve,
        /// Apply the database migrations and exit.
        Migrate,
        /// Create an operator login, or set a new password for an existing one. The password
        /// is read from standard input (one line), never from the command line.
        CreateOperator {
            #[arg(long)]
            email: String,
        },
        /// Load the deterministic 30-day demo world ending now (once: a second run changes
        /// nothing and says so).
        Demo {
            /// Replace the loaded demo world with a fresh one ending now.
            #[arg(long)]
            replace: bool,
            #[arg(long, default_value_t = ops_demo::DEFAULT_SEED)]
            seed: u64,
        },
        /// Move events older than the retention age (OPS_RETENTION_DAYS, default 90) to
        /// gzip NDJSON files, one per UTC day, with a checksum manifest; then delete them.
        Archive {
            /// Archive events older than this many days instead.
            #[arg(long)]
            older_than_days: Option<u32>,
            /// Archive directory (default OPS_ARCHIVE_DIR, or ./archive).
            #[arg(long)]
            dir: Option<std::path::PathBuf>,
        },
        /// Re-ingest an archive directory, or one of its files, after checking every checksum;
        /// events already stored are left alone.
        Restore { path: std::path::PathBuf },
        /// The derived tables (rollups) and their lineage.
        Rollups {
            #[command(subcommand)]
            action: RollupAction,
        },
        /// Fill an empty database with a synthetic stream and measure every page's analytics
        /// against the spec's SQL, HTTP ingestion against COPY, and peak memory (BENCHMARKS.md).
        Bench {
            /// Events to generate.
            #[arg(long, default_value_t = 10_000_000)]
            events: u64,
            #[arg(long, default_value_t = 500)]
            tenants: u32,
            #[arg(long, default_value_t = 30)]
            days: i64,
            /// Warm runs per query (p50 and p95 are taken over them).
            #[arg(long, default_value_t = 20)]
            runs: usize,
            /// Events sent through the HTTP API for each batch size.
            #[arg(long, default_value_t = 500_000)]
            ingest_events: u64,
            /// Concurrent ingestion clients.
            #[arg(long, default_value_t = 4)]
            clients: usize,
            /// Measure the events already in the database instead of generating.
            #[arg(long)]
            reuse: bool,
            /// Measure ingestion only, not the pages.
            #[arg(long)]
            ingest_only: bool,
            /// Seconds of 100 signed-in sessions browsing plus steady ingestion; 0 skips it.
            #[arg(long, default_value_t = 60)]
            load_secs: u64,
            /// The moment the pages are measured at (RFC 3339; default now). Runs on the same
            /// data at the same moment read the same windows, so they compare.
            #[arg(long)]
            as_of: Option<chrono::DateTime<chrono::Utc>>,
        },
    }

    #[derive(Subcommand)]
    enum RollupAction {
        /// Show what each derived table is computed from and when it was last rebuilt.
        Show,
        /// Recompute every rollup from ops_events alone (writers wait meanwhile).
        Rebuild,
        /// Compare every rollup with a fresh computation from ops_events; exits 1 on any
        /// difference.
        Check,
    }

    fn init_logging() {
        use tracing_subscriber::EnvFilter;
        let filter = EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        if std::env::var("OPS_LOG_FORMAT").is_ok_and(|f| f == "json") {
            builder.json().init();
        } else {
            builder.init();
        }
    }

    pub async fn main() -> ExitCode {
        let _ = dotenvy::dotenv();
        init_logging();
        let cli = Cli::parse();
        match run(cli.command.unwrap_or(Command::Serve)).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    }

    async fn run(command: Command) -> Result<(), String> {
        let config = Config::from_env()?;
        let pool = db::pool(&config.database_url).map_err(|e| format!("bad DATABASE_URL: {e}"))?;
        db::migrate(&pool, Duration::from_secs(30))
            .await
            .map_err(|e| format!("migrations failed: {e}"))?;
        match command {
            Command::Migrate => {
                println!("migrations applied");
                Ok(())
            }
            Command::CreateOperator { email } => {
                let mut password = String::new();
                std::io::stdin()
                    .read_to_string(&mut password)
                    .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
                let password = password.lines().next().unwrap_or("").to_owned();
                if password.chars().count() < 12 {
                    return Err("the password must be at least 12 characters".into());
                }
                auth::upsert_operator(&pool, &email, &password)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("operator {email} can now sign in");
                Ok(())
            }
            Command::Demo { replace, seed } => {
                let outcome = demo::load(&pool, seed, replace, chrono::Utc::now(), true)
                    .await
                    .map_err(|e| e.to_string())?;
                match outcome {
                    demo::DemoOutcome::AlreadyLoaded { ends_at, events } => println!(
                        "demo world (seed {seed}) is already loaded: {events} events ending {ends_at}; nothing changed (use --replace for a fresh one ending now)"
                    ),
                    demo::DemoOutcome::Loaded { ends_at, events, tenants, replaced } => println!(
                        "demo world (seed {seed}) {}: {events} events, {tenants} tenants, ending {ends_at}",
                        if replaced { "replaced" } else { "loaded" }
                    ),
                }
                Ok(())
            }
            Command::Archive {
                older_than_days,
                dir,
            } => {
                use ops_console::server::archive;
                let days = older_than_days.unwrap_or(config.retention.days);
                let dir = dir.unwrap_or(config.retention.dir.clone());
                let cutoff = archive::cutoff(chrono::Utc::now(), days);
                let report = archive::archive(&pool, &dir, cutoff)
                    .await
                    .map_err(|e| e.to_string())?;
                for f in &report.files {
                    println!(
                        "{}: {} events, {} bytes, sha256 {}",
                        f.file, f.events, f.bytes, f.sha256
                    );
                }
                println!(
                    "archived and deleted {} events before {cutoff} into {} files in {}",
                    report.deleted,
                    report.files.len(),
                    dir.display()
                );
                Ok(())
            }
            Command::Restore { path } => {
                let report = ops_console::server::archive::restore(&pool, &path)
                    .await
                    .map_err(|e| e.to_string())?;
                println!(
                    "restored {} events from {} files; {} were already stored",
                    report.restored, report.files, report.already_stored
                );
                Ok(())
            }
            Command::Rollups { action } => {
                use ops_console::server::rollup;
                let failed = |e: sqlx::Error| e.to_string();
                if let RollupAction::Rebuild = action {
                    let started = std::time::Instant::now();
                    rollup::rebuild(&pool).await.map_err(failed)?;
                    println!("rebuilt in {:.1} s", started.elapsed().as_secs_f64());
                }
                if let RollupAction::Check = action {
                    let problems = rollup::check(&pool).await.map_err(failed)?;
                    for (table, bucket, tenant, problem) in &problems {
                        let tenant = tenant.map_or("all tenants".into(), |t| t.to_string());
                        println!("{table} {bucket} {tenant}: {problem}");
                    }
                    if !problems.is_empty() {
                        return Err(format!(
                            "{} rollup rows differ from ops_events",
                            problems.len()
                        ));
                    }
                    println!("every rollup equals a fresh computation from ops_events");
                }
                for l in rollup::lineage(&pool).await.map_err(failed)? {
                    println!(
                        "{}: {} per {}; kept current by {}; rebuilt {} from {} events (through {})",
                        l.name,
                        l.computed_from,
                        l.grain,
                        l.maintained_by,
                        l.rebuilt_at.to_rfc3339(),
                        l.rebuilt_from_events,
                        l.rebuilt_through
                            .map_or("no events".into(), |t| t.to_rfc3339()),
                    );
                }
                Ok(())
            }
            Command::Bench {
                events,
                tenants,
                days,
                runs,
                ingest_events,
                clients,
                reuse,
                ingest_only,
                load_secs,
                as_of,
            } => {
                let options = ops_console::server::bench::BenchOptions {
                    events,
                    tenants: tenants.max(1),
                    days: days.max(1),
                    runs: runs.max(1),
                    ingest_events,
                    clients: clients.max(1),
                    reuse,
                    ingest_only,
                    load_secs,
                    as_of,
                };
                let table = ops_console::server::bench::run(pool, options).await?;
                println!("{table}");
                Ok(())
            }
            Command::Serve => {
                if let Some((email, password)) = &config.admin {
                    auth::upsert_operator(&pool, email, password)
                        .await
                        .map_err(|e| format!("cannot create the operator {email}: {e}"))?;
                    tracing::info!(email, "operator login ready");
                }
                let leptos = get_configuration(None).map_err(|e| e.to_string())?;
                let options = leptos.leptos_options;
                let addr = options.site_addr;
                let (collect_every, max_live) = (config.collect_every, config.max_live_connections);
                let redis_url = config.redis_url.clone();
                let alert_every = config.alert_every;
                let retention = config.retention.clone();
                let (app, state) = http::router_with_state(pool, config, options);
                // Connections opened before the first visitors arrive, not by them.
                tokio::join!(
                    db::warm(&state.pool, 8),
                    db::warm(&state.intake, 4),
                    db::warm(&state.auth, 4)
                );
                if let Some(every) = collect_every {
                    collector::Collector::new(
                        state.pool.clone(),
                        state.live.clone(),
                        max_live,
                        redis_url.as_deref(),
                    )?
                    .start(every);
                }
                alerts::start(
                    state.pool.clone(),
                    state.alert_wake.clone(),
                    alert_every,
                    alerts::DeliveryPolicy::default(),
                );
                ops_console::server::archive::start(state.pool.clone(), retention);
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
                tracing::info!("listening on http://{addr}");
                http::serve(listener, app).await.map_err(|e| e.to_string())
            }
        }
    }
}

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    cli::main().await
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The browser side starts through `hydrate()` in lib.rs; this binary needs `ssr`.
}
