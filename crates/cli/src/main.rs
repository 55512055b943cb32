//! `loket`: the one binary. `serve` runs the gateway; the other commands administer its database
//! or call a running server. Each prints JSON on stdout, or one line on stderr and exits non-zero.

mod call;
mod demo;

use clap::{Args, Parser, Subcommand};
use loket_api::{AppState, Config};
use loket_core::{Catalogue, ExtraField, Mode, Product, ProductStatus, Rupiah};
use loket_store::{MemberUpdate, Store};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "loket",
    version,
    about = "Self-hosted PPOB bill-payment gateway (IAK and isikuota protocols)"
)]
struct Cli {
    /// Database URL: sqlite://PATH (default sqlite://loket.db) or postgres://...
    #[arg(long, env = "LOKET_DATABASE_URL", global = true)]
    database: Option<String>,
    /// Configuration file (TOML).
    #[arg(long, env = "LOKET_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage members.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Manage the product catalogue.
    #[command(subcommand)]
    Product(ProductCommand),
    /// The money ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Upstream billers (spec/upstreams.md).
    #[command(subcommand)]
    Upstream(UpstreamCommand),
    /// Routes from products to upstreams.
    #[command(subcommand)]
    Route(RouteCommand),
    /// Pending payments: list them, or decide one (a person's decision, recorded).
    #[command(subcommand)]
    Pending(PendingCommand),
    /// Member webhooks: history and re-sending.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// The sandbox biller.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Call a running loket (or IAK-compatible server) as a member would.
    #[command(subcommand)]
    Call(call::CallCommand),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LOKET_LISTEN")]
    listen: Option<String>,
    /// Create a demo member (if absent) and print its credentials and a curl example.
    #[arg(long)]
    demo: bool,
    /// Run every request in sandbox mode, whatever key signed it.
    #[arg(long)]
    sandbox: bool,
}

#[derive(Subcommand)]
enum MemberCommand {
    /// Create a member; prints its credentials.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Add to a member's balance (the sandbox balance with --sandbox).
    Deposit {
        #[arg(long)]
        username: String,
        /// Whole rupiah; `1.000.000` and `1000000` are the same.
        #[arg(long)]
        amount: String,
        #[arg(long)]
        sandbox: bool,
    },
    /// Take from a member's balance (the sandbox balance with --sandbox); refused beyond the
    /// available balance.
    Withdraw {
        #[arg(long)]
        username: String,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        sandbox: bool,
    },
    /// Print a member, balances included.
    Show {
        #[arg(long)]
        username: String,
    },
    /// Change a member's settings.
    Set {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: Option<String>,
        /// Comma-separated addresses or CIDR blocks; empty allows any address.
        #[arg(long)]
        allowlist: Option<String>,
        #[arg(long)]
        suspended: Option<bool>,
        /// Webhook URL; empty removes it.
        #[arg(long)]
        webhook_url: Option<String>,
        /// Webhooks on every final state (true), or only after a pending answer (false).
        #[arg(long)]
        webhook_all: Option<bool>,
    },
}

// Parsed once per process: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum ProductCommand {
    /// List every product.
    List,
    /// Print one product.
    Show {
        #[arg(long)]
        code: String,
    },
    /// Change a product, or create it (then --name, --type and --shape are required).
    Set(ProductSet),
    /// Load products from a catalogue file (TOML, as catalogue/products.toml), replacing same codes.
    Import {
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Args)]
struct ProductSet {
    #[arg(long)]
    code: String,
    #[arg(long)]
    name: Option<String>,
    #[arg(long = "type")]
    kind: Option<String>,
    #[arg(long)]
    shape: Option<String>,
    #[arg(long)]
    admin: Option<String>,
    #[arg(long)]
    commission: Option<String>,
    #[arg(long)]
    biller_commission: Option<String>,
    /// active | inactive
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    province: Option<String>,
    /// Comma-separated: year, month, nomor_identitas, desc.amount
    #[arg(long)]
    fields: Option<String>,
    #[arg(long)]
    sandbox_prefix: Option<String>,
}

// Parsed once per process: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum UpstreamCommand {
    /// Add or replace an upstream.
    Add(Box<UpstreamArgs>),
    /// List upstreams (secrets are never printed).
    List,
    /// Remove an upstream and its routes.
    Remove {
        #[arg(long)]
        name: String,
    },
}

#[derive(Args)]
struct UpstreamArgs {
    #[arg(long)]
    name: String,
    /// iak | isikuota | digiflazz | sandbox
    #[arg(long)]
    kind: String,
    #[arg(long, default_value = "")]
    base_url: String,
    /// IAK / Digiflazz username, isikuota api_id.
    #[arg(long, default_value = "")]
    username: String,
    /// Name of the environment variable that holds the API key (preferred to --api-key).
    #[arg(long)]
    api_key_env: Option<String>,
    #[arg(long, default_value = "", hide_default_value = true)]
    api_key: String,
    /// Name of the environment variable that holds the secret (isikuota HMAC, Digiflazz webhook).
    #[arg(long)]
    secret_key_env: Option<String>,
    #[arg(long, default_value = "", hide_default_value = true)]
    secret_key: String,
    /// Send `testing: true` (isikuota, Digiflazz).
    #[arg(long)]
    testing: bool,
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: i64,
    #[arg(long, default_value_t = 64)]
    max_concurrency: i64,
    #[arg(long, default_value_t = 5)]
    breaker_failures: i64,
    #[arg(long, default_value_t = 30)]
    breaker_cooldown_secs: i64,
    /// HTTP to the upstream: auto (HTTP/1.1; h2 when TLS negotiates it), http1, or http2 (h2c
    /// with prior knowledge to an http:// upstream): many requests in flight share a connection.
    #[arg(long, default_value = "auto", value_parser = clap::builder::PossibleValuesParser::new(loket_billers::HTTP_VERSIONS))]
    http: String,
    /// Keep it, but do not route to it.
    #[arg(long)]
    disabled: bool,
}

#[derive(Subcommand)]
enum RouteCommand {
    /// Add or replace the route of --product through --upstream.
    Add {
        #[arg(long)]
        product: String,
        #[arg(long)]
        upstream: String,
        /// The upstream's product code (default: the same).
        #[arg(long)]
        upstream_code: Option<String>,
        /// Order among the product's routes (lower first).
        #[arg(long, default_value_t = 1)]
        position: i64,
        /// The most the upstream may charge for one bill.
        #[arg(long)]
        cost_limit: Option<String>,
    },
    /// List routes (of one product).
    List {
        #[arg(long)]
        product: Option<String>,
    },
    Remove {
        #[arg(long)]
        product: String,
        #[arg(long)]
        upstream: String,
    },
}

#[derive(Subcommand)]
enum PendingCommand {
    /// Pending payments, oldest first; `flagged` ones wait for a person.
    List {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Settle a pending payment by a person's decision (after checking with the upstream).
    Resolve {
        #[arg(long)]
        ref_id: String,
        /// success | failed
        #[arg(long)]
        to: String,
        /// Who decides.
        #[arg(long)]
        by: String,
        /// Why (recorded with the payment).
        #[arg(long)]
        reason: String,
        /// The biller reference, for success.
        #[arg(long, default_value = "")]
        noref: String,
        /// Whose ref_id, when several members used it.
        #[arg(long)]
        username: Option<String>,
    },
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// The newest webhooks, of one member or all.
    List {
        #[arg(long)]
        username: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Queue a webhook again (its body unchanged), with fresh attempts.
    Resend {
        #[arg(long)]
        id: i64,
    },
}

#[derive(Subcommand)]
enum SandboxCommand {
    /// Settle a pending sandbox payment now, instead of waiting for pending_resolve_secs.
    Resolve {
        #[arg(long)]
        ref_id: String,
        /// success | failed
        #[arg(long)]
        to: String,
        /// Whose ref_id, when several members used the same one.
        #[arg(long)]
        username: Option<String>,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Replay the journal; exit non-zero on any difference or broken invariant.
    Verify,
}

/// glibc's malloc showed up at ~10% of CPU under load (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Fallible<T> = Result<T, String>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, whatever the error's source wrote (toml's errors span several lines).
            let one_line = e.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("error: {one_line}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> Fallible<Config> {
    let mut config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(db) = &cli.database {
        config.database = db.clone();
    }
    Ok(config)
}

async fn open_store(config: &Config) -> Fallible<Store> {
    let store = Store::open(&config.database)
        .await
        .map_err(|e| format!("cannot open {}: {e}", redact_url(&config.database)))?;
    store
        .load_catalogue(&Catalogue::builtin())
        .await
        .map_err(|e| format!("cannot load the catalogue: {e}"))?;
    Ok(store)
}

/// A database URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..s], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

async fn run(cli: Cli) -> Fallible<()> {
    match &cli.command {
        Command::Serve(args) => serve(&cli, args).await,
        Command::Migrate => {
            let config = load_config(&cli)?;
            let store = open_store(&config).await?;
            print_json(
                &json!({"database": redact_url(&config.database), "backend": store.backend(), "migrated": true}),
            );
            Ok(())
        }
        Command::Member(cmd) => {
            let store = open_store(&load_config(&cli)?).await?;
            member(&store, cmd).await
        }
        Command::Product(cmd) => {
            let store = open_store(&load_config(&cli)?).await?;
            product(&store, cmd).await
        }
        Command::Ledger(LedgerCommand::Verify) => {
            let store = open_store(&load_config(&cli)?).await?;
            let report = store.verify_ledger().await.map_err(|e| e.to_string())?;
            print_json(&serde_json::to_value(&report).unwrap_or_default());
            if report.is_clean() {
                Ok(())
            } else {
                Err(format!(
                    "the ledger has {} problem(s)",
                    report.problems.len()
                ))
            }
        }
        Command::Call(cmd) => call::run(cmd).await,
        Command::Upstream(cmd) => {
            let store = open_store(&load_config(&cli)?).await?;
            upstream(&store, cmd).await
        }
        Command::Route(cmd) => {
            let store = open_store(&load_config(&cli)?).await?;
            route(&store, cmd).await
        }
        Command::Pending(cmd) => {
            let store = open_store(&load_config(&cli)?).await?;
            pending(&store, cmd).await
        }
        Command::Webhook(cmd) => {
            let store = open_store(&load_config(&cli)?).await?;
            webhook(&store, cmd).await
        }
        Command::Sandbox(SandboxCommand::Resolve {
            ref_id,
            to,
            username,
        }) => {
            let store = open_store(&load_config(&cli)?).await?;
            sandbox_resolve(&store, ref_id, to, username.as_deref()).await
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("LOKET_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let layout = if std::env::var("LOKET_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
        loket_api::log::Layout::Json
    } else {
        builder.init();
        loket_api::log::Layout::Text
    };
    // Request lines are formatted and written on a thread of their own (crates/api/src/log.rs).
    if let Err(e) = loket_api::log::start(layout) {
        tracing::warn!(error = %e, "request log thread not started; request lines go through tracing");
    }
}

async fn serve(cli: &Cli, args: &ServeArgs) -> Fallible<()> {
    init_logging();
    loket_api::server::disable_transparent_huge_pages();
    let mut config = load_config(cli)?;
    if let Some(listen) = &args.listen {
        config.listen = listen.clone();
    }
    if args.sandbox {
        config.sandbox.enabled = true;
    }
    let store = open_store(&config).await?;
    load_upstreams(&store, &config).await?;
    let listener = loket_api::server::bind(&config.listen, config.limits.listen_backlog)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if args.demo {
        demo::ensure_demo_member(&store, addr).await?;
    }
    println!(
        "loket listening on http://{addr} ({} database{})",
        store.backend(),
        if config.sandbox.enabled {
            ", sandbox mode"
        } else {
            ""
        }
    );
    tracing::info!(%addr, backend = store.backend(), sandbox = config.sandbox.enabled, "listening");
    let state = AppState::new(store, config)?;
    loket_api::serve(listener, state, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    loket_api::log::flush();
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn member_json(store: &Store, m: &loket_core::Member) -> Fallible<serde_json::Value> {
    let live = store
        .balance(m.id, Mode::Live)
        .await
        .map_err(|e| e.to_string())?;
    let sandbox = store
        .balance(m.id, Mode::Sandbox)
        .await
        .map_err(|e| e.to_string())?;
    Ok(json!({
        "username": m.username,
        "name": m.name,
        "api_id": m.api_id,
        "api_key": m.api_key,
        "dev_api_key": m.dev_api_key,
        "secret_key": m.secret_key,
        "balance": live.balance,
        "held": live.held,
        "sandbox_balance": sandbox.balance,
        "sandbox_held": sandbox.held,
        "ip_allowlist": m.allowlist.to_string(),
        "suspended": m.suspended,
        "webhook_url": m.webhook_url,
        "created_at": loket_core::jakarta::datetime(m.created_at),
    }))
}

async fn find_member(store: &Store, username: &str) -> Fallible<loket_core::Member> {
    store
        .member_by_username(username)
        .await
        .map_err(|e| e.to_string())?
        .map(std::sync::Arc::unwrap_or_clone)
        .ok_or_else(|| format!("no member with username {username:?}"))
}

fn check_username(username: &str) -> Fallible<()> {
    let ok = (5..=20).contains(&username.len())
        && username.bytes().all(|b| b.is_ascii_digit() || b == b'+');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "username must be a phone number (5-20 digits), not {username:?}"
        ))
    }
}

async fn member(store: &Store, cmd: &MemberCommand) -> Fallible<()> {
    match cmd {
        MemberCommand::Add { username, name } => {
            check_username(username)?;
            let name = name.clone().unwrap_or_else(|| username.clone());
            let m = store
                .create_member(loket_store::new_keys(username, &name))
                .await
                .map_err(|e| match e {
                    loket_store::StoreError::Duplicate(_) => {
                        format!("a member with username {username:?} already exists")
                    }
                    e => e.to_string(),
                })?;
            print_json(&json!({
                "username": m.username,
                "api_id": m.api_id,
                "api_key": m.api_key,
                "dev_api_key": m.dev_api_key,
                "secret_key": m.secret_key,
            }));
            Ok(())
        }
        MemberCommand::Deposit {
            username,
            amount,
            sandbox,
        } => move_money(store, username, amount, *sandbox, true).await,
        MemberCommand::Withdraw {
            username,
            amount,
            sandbox,
        } => move_money(store, username, amount, *sandbox, false).await,
        MemberCommand::Show { username } => {
            let m = find_member(store, username).await?;
            print_json(&member_json(store, &m).await?);
            Ok(())
        }
        MemberCommand::Set {
            username,
            name,
            allowlist,
            suspended,
            webhook_url,
            webhook_all,
        } => {
            if let Some(list) = allowlist {
                loket_core::IpAllowlist::parse(list)?;
            }
            let update = MemberUpdate {
                name: name.clone(),
                allowlist: allowlist.clone(),
                suspended: *suspended,
                webhook_url: webhook_url.as_ref().map(|u| {
                    if u.is_empty() {
                        None
                    } else {
                        Some(u.clone())
                    }
                }),
                webhook_all: *webhook_all,
            };
            let m = store
                .update_member(username, update)
                .await
                .map_err(|e| match e {
                    loket_store::StoreError::NotFound(_) => {
                        format!("no member with username {username:?}")
                    }
                    e => e.to_string(),
                })?;
            print_json(&member_json(store, &m).await?);
            Ok(())
        }
    }
}

fn product_json(p: &Product) -> serde_json::Value {
    serde_json::to_value(p).unwrap_or_default()
}

async fn product(store: &Store, cmd: &ProductCommand) -> Fallible<()> {
    match cmd {
        ProductCommand::List => {
            let all = store.products().await.map_err(|e| e.to_string())?;
            print_json(&serde_json::Value::Array(
                all.iter().map(product_json).collect(),
            ));
            Ok(())
        }
        ProductCommand::Show { code } => {
            let p = store
                .product(code)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no product {code:?}"))?;
            print_json(&product_json(&p));
            Ok(())
        }
        ProductCommand::Set(s) => {
            let existing = store.product(&s.code).await.map_err(|e| e.to_string())?;
            let p = apply_product_set(existing.map(std::sync::Arc::unwrap_or_clone), s)?;
            store
                .put_product(p.clone())
                .await
                .map_err(|e| e.to_string())?;
            print_json(&product_json(&p));
            Ok(())
        }
        ProductCommand::Import { file } => {
            let text =
                std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let catalogue =
                Catalogue::from_toml(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            for p in &catalogue.products {
                store
                    .put_product(p.clone())
                    .await
                    .map_err(|e| e.to_string())?;
            }
            print_json(&json!({"imported": catalogue.products.len()}));
            Ok(())
        }
    }
}

fn apply_product_set(existing: Option<Product>, s: &ProductSet) -> Fallible<Product> {
    let mut p = match existing {
        Some(p) => p,
        None => {
            let need = |v: &Option<String>, flag: &str| {
                v.clone()
                    .ok_or_else(|| format!("new product {}: {flag} is required", s.code))
            };
            let shape = need(&s.shape, "--shape")?;
            Product {
                code: s.code.clone(),
                name: need(&s.name, "--name")?,
                kind: need(&s.kind, "--type")?,
                shape: loket_core::catalogue::BillShape::parse(&shape)
                    .ok_or_else(|| format!("unknown shape {shape:?}"))?,
                admin: Rupiah::ZERO,
                commission: Rupiah::ZERO,
                biller_commission: Rupiah::ZERO,
                status: ProductStatus::Active,
                province: None,
                fields: Vec::new(),
                sandbox_prefix: None,
                sandbox_profile: None,
            }
        }
    };
    if let Some(v) = &s.name {
        p.name = v.clone();
    }
    if let Some(v) = &s.kind {
        p.kind = v.clone();
    }
    if let Some(v) = &s.shape {
        p.shape = loket_core::catalogue::BillShape::parse(v)
            .ok_or_else(|| format!("unknown shape {v:?}"))?;
    }
    if let Some(v) = &s.admin {
        p.admin = Rupiah::parse_amount(v)?;
    }
    if let Some(v) = &s.commission {
        p.commission = Rupiah::parse_amount(v)?;
    }
    if let Some(v) = &s.biller_commission {
        p.biller_commission = Rupiah::parse_amount(v)?;
    }
    if let Some(v) = &s.status {
        p.status = ProductStatus::parse(v)
            .ok_or_else(|| format!("status must be active or inactive, not {v:?}"))?;
    }
    if let Some(v) = &s.province {
        p.province = if v.is_empty() { None } else { Some(v.clone()) };
    }
    if let Some(v) = &s.fields {
        p.fields = v
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| ExtraField::parse(f).ok_or_else(|| format!("unknown field {f:?}")))
            .collect::<Fallible<Vec<_>>>()?;
    }
    if let Some(v) = &s.sandbox_prefix {
        if !v.is_empty() && !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err("--sandbox-prefix must be digits".into());
        }
        p.sandbox_prefix = if v.is_empty() { None } else { Some(v.clone()) };
    }
    Ok(p)
}

async fn sandbox_resolve(
    store: &Store,
    ref_id: &str,
    to: &str,
    username: Option<&str>,
) -> Fallible<()> {
    let payment = find_pending(store, ref_id, username, Some(Mode::Sandbox)).await?;
    let quote = store
        .quote(payment.tr_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the payment's quote is missing")?;
    let outcome = match to {
        "success" => loket_core::Settlement::Success {
            noref: quote.noref.clone(),
            cost: quote.cost,
        },
        "failed" => {
            // The failure the scenario names, else a plain payment failure.
            let rc = match loket_api::gateway::sandbox_settlement(&quote) {
                Some(loket_core::Settlement::Failed(rc)) => rc,
                _ => loket_core::Rc::PaymentFailed,
            };
            loket_core::Settlement::Failed(rc)
        }
        other => return Err(format!("--to must be success or failed, not {other:?}")),
    };
    let p = store
        .settle_payment(payment.id, outcome, Some("cli:sandbox-resolve".into()))
        .await
        .map_err(|e| e.to_string())?;
    print_json(
        &json!({"ref_id": p.ref_id, "tr_id": p.tr_id, "state": p.state.as_str(), "rc": p.rc.code(), "noref": p.noref}),
    );
    Ok(())
}

async fn webhook(store: &Store, cmd: &WebhookCommand) -> Fallible<()> {
    match cmd {
        WebhookCommand::List { username, limit } => {
            let member_id = match username {
                Some(u) => Some(find_member(store, u).await?.id),
                None => None,
            };
            let list = store
                .webhooks(member_id, *limit)
                .await
                .map_err(|e| e.to_string())?;
            print_json(&serde_json::to_value(&list).unwrap_or_default());
            Ok(())
        }
        WebhookCommand::Resend { id } => {
            let w = store.resend_webhook(*id).await.map_err(|e| match e {
                loket_store::StoreError::NotFound(_) => format!("no webhook {id}"),
                e => e.to_string(),
            })?;
            print_json(&serde_json::to_value(&w).unwrap_or_default());
            Ok(())
        }
    }
}

const UPSTREAM_KINDS: [&str; 4] = ["iak", "isikuota", "digiflazz", "sandbox"];

/// The config file's upstreams and routes, written to the database (the file wins on start).
async fn load_upstreams(store: &Store, config: &Config) -> Fallible<()> {
    for u in &config.upstream {
        if !UPSTREAM_KINDS.contains(&u.kind.as_str()) {
            return Err(format!("upstream {}: unknown kind {:?}", u.name, u.kind));
        }
        loket_billers::HttpVersion::parse(&u.http)
            .map_err(|e| format!("upstream {}: {e}", u.name))?;
        store
            .put_upstream(u.record(true))
            .await
            .map_err(|e| format!("upstream {}: {e}", u.name))?;
    }
    for (i, r) in config.route.iter().enumerate() {
        store
            .put_route(loket_store::Route {
                product_code: r.product.clone(),
                position: r.position.unwrap_or(i as i64 + 1),
                upstream: r.upstream.clone(),
                upstream_code: r.upstream_code.clone().unwrap_or_else(|| r.product.clone()),
                cost_limit: r.cost_limit.map(Rupiah::new),
            })
            .await
            .map_err(|e| format!("route {} via {}: {e}", r.product, r.upstream))?;
    }
    Ok(())
}

async fn upstream(store: &Store, cmd: &UpstreamCommand) -> Fallible<()> {
    match cmd {
        UpstreamCommand::Add(a) => {
            if !UPSTREAM_KINDS.contains(&a.kind.as_str()) {
                return Err(format!(
                    "--kind must be one of {}",
                    UPSTREAM_KINDS.join(", ")
                ));
            }
            let record = loket_api::config::UpstreamConfig {
                name: a.name.clone(),
                kind: a.kind.clone(),
                base_url: a.base_url.clone(),
                username: a.username.clone(),
                api_key: a.api_key.clone(),
                api_key_env: a.api_key_env.clone(),
                secret_key: a.secret_key.clone(),
                secret_key_env: a.secret_key_env.clone(),
                testing: a.testing,
                timeout_ms: a.timeout_ms,
                max_concurrency: a.max_concurrency,
                breaker_failures: a.breaker_failures,
                breaker_cooldown_secs: a.breaker_cooldown_secs,
                http: a.http.clone(),
            }
            .record(!a.disabled);
            store
                .put_upstream(record.clone())
                .await
                .map_err(|e| e.to_string())?;
            print_json(&serde_json::to_value(&record).unwrap_or_default());
            Ok(())
        }
        UpstreamCommand::List => {
            let list = store.upstreams().await.map_err(|e| e.to_string())?;
            print_json(&serde_json::to_value(&list).unwrap_or_default());
            Ok(())
        }
        UpstreamCommand::Remove { name } => {
            if !store
                .remove_upstream(name)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("no upstream {name:?}"));
            }
            print_json(&json!({"removed": name}));
            Ok(())
        }
    }
}

async fn route(store: &Store, cmd: &RouteCommand) -> Fallible<()> {
    match cmd {
        RouteCommand::Add {
            product,
            upstream,
            upstream_code,
            position,
            cost_limit,
        } => {
            let cost_limit = match cost_limit {
                Some(c) => Some(Rupiah::parse_amount(c)?),
                None => None,
            };
            let r = loket_store::Route {
                product_code: product.clone(),
                position: *position,
                upstream: upstream.clone(),
                upstream_code: upstream_code.clone().unwrap_or_else(|| product.clone()),
                cost_limit,
            };
            store.put_route(r.clone()).await.map_err(|e| match e {
                loket_store::StoreError::NotFound(_) => format!("no upstream {upstream:?}"),
                e => e.to_string(),
            })?;
            print_json(&serde_json::to_value(&r).unwrap_or_default());
            Ok(())
        }
        RouteCommand::List { product } => {
            let list = store
                .routes(product.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            print_json(&serde_json::to_value(&list).unwrap_or_default());
            Ok(())
        }
        RouteCommand::Remove { product, upstream } => {
            if !store
                .remove_route(product, upstream)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("no route of {product:?} via {upstream:?}"));
            }
            print_json(&json!({"removed": {"product": product, "upstream": upstream}}));
            Ok(())
        }
    }
}

fn payment_json(p: &loket_core::Payment, q: Option<&loket_core::Quote>) -> serde_json::Value {
    json!({
        "tr_id": p.tr_id,
        "ref_id": p.ref_id,
        "mode": p.mode.as_str(),
        "code": q.map(|q| q.code.clone()),
        "hp": q.map(|q| q.hp.clone()),
        "biller": q.map(|q| q.biller.clone()),
        "amount": p.amount,
        "state": p.state.as_str(),
        "rc": p.rc.code(),
        "noref": p.noref,
        "attempts": p.attempts,
        "flagged": p.flagged,
        "resolved_by": p.resolved_by,
        "created_at": loket_core::jakarta::datetime(p.created_at),
        "next_check_at": p.resolve_at.filter(|t| *t < i64::MAX).map(loket_core::jakarta::datetime),
    })
}

async fn pending(store: &Store, cmd: &PendingCommand) -> Fallible<()> {
    match cmd {
        PendingCommand::List { limit } => {
            let list = store
                .pending_payments(*limit)
                .await
                .map_err(|e| e.to_string())?;
            let mut out = Vec::with_capacity(list.len());
            for p in &list {
                let q = store.quote(p.tr_id).await.map_err(|e| e.to_string())?;
                out.push(payment_json(p, q.as_ref()));
            }
            print_json(&serde_json::Value::Array(out));
            Ok(())
        }
        PendingCommand::Resolve {
            ref_id,
            to,
            by,
            reason,
            noref,
            username,
        } => {
            if by.trim().is_empty() || reason.trim().is_empty() {
                return Err(
                    "--by and --reason are required: a decision is recorded with who and why"
                        .into(),
                );
            }
            let payment = find_pending(store, ref_id, username.as_deref(), None).await?;
            let quote = store
                .quote(payment.tr_id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the payment's quote is missing")?;
            let outcome = match to.as_str() {
                "success" => loket_core::Settlement::Success {
                    noref: noref.clone(),
                    cost: quote.cost,
                },
                "failed" => loket_core::Settlement::Failed(loket_core::Rc::PaymentFailed),
                other => return Err(format!("--to must be success or failed, not {other:?}")),
            };
            let who = format!("operator {}: {}", by.trim(), reason.trim());
            let p = store
                .settle_payment(payment.id, outcome, Some(who))
                .await
                .map_err(|e| e.to_string())?;
            print_json(&payment_json(&p, Some(&quote)));
            Ok(())
        }
    }
}

/// The one pending payment with `ref_id` (of `username`, in `mode`, when given).
async fn find_pending(
    store: &Store,
    ref_id: &str,
    username: Option<&str>,
    mode: Option<Mode>,
) -> Fallible<loket_core::Payment> {
    let mut pending = store
        .pending_by_ref(ref_id)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(mode) = mode {
        pending.retain(|p| p.mode == mode);
    }
    if let Some(u) = username {
        let m = find_member(store, u).await?;
        pending.retain(|p| p.member_id == m.id);
    }
    match pending.len() {
        0 => Err(format!("no pending payment with ref_id {ref_id:?}")),
        1 => Ok(pending.remove(0)),
        n => Err(format!(
            "{n} pending payments have ref_id {ref_id:?}: add --username"
        )),
    }
}

/// `member deposit` (from the external account) and `member withdraw` (back to it).
async fn move_money(
    store: &Store,
    username: &str,
    amount: &str,
    sandbox: bool,
    deposit: bool,
) -> Fallible<()> {
    let amount = Rupiah::parse_amount(amount)?;
    if amount.get() == 0 {
        return Err("the amount must be positive".into());
    }
    let m = find_member(store, username).await?;
    let side = if sandbox { Mode::Sandbox } else { Mode::Live };
    let moved = if deposit {
        store.deposit(m.id, side, amount).await
    } else {
        store.withdraw(m.id, side, amount).await
    };
    let b = moved.map_err(|e| match e {
        loket_store::StoreError::InsufficientBalance => {
            "the available balance does not cover the amount".to_string()
        }
        e => e.to_string(),
    })?;
    print_json(&json!({"username": m.username, "balance": b.balance}));
    Ok(())
}
