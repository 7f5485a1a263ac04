//! `atrium`: serve the portal, migrate the database, load the demo, create an administrator.

use clap::{Parser, Subcommand};
use domain::calendar::Date;
use domain::program::ProgramDoc;
use server::config::{site_options, Config, LogFormat};
use server::startup::{open_portal, shutdown_signal, AppState, Application};
use service::demo::{DemoOutcome, DEMO_PASSWORD};
use service::imports::ImportFormat;
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "atrium", version, about = "Atrium partner relationship management")]
struct Cli {
    /// Log as JSON lines (same as ATRIUM_LOG_FORMAT=json).
    #[arg(long, global = true)]
    json_logs: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the portal and the API (the default). Migrates the database first.
    Serve {
        /// Load the demo data first when the database is empty (also ATRIUM_DEMO=1).
        #[arg(long, env = "ATRIUM_DEMO")]
        demo: bool,
    },
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Load the demo data (PRODUCT.md) into an empty database; harmless if already loaded.
    Demo,
    /// Work with the channel program: `import FILE` adds a version, `export` prints the one in force.
    #[command(subcommand)]
    Program(ProgramCommand),
    /// Import facts from a CSV or JSON-lines file (whole or not at all), with a progress bar.
    Import {
        /// `sales` or `certifications`.
        #[arg(value_enum)]
        facts: FactFile,
        /// The file; `.jsonl`, `.ndjson` and `.json` are read as JSON lines, anything else as CSV.
        file: std::path::PathBuf,
        /// Check and report without storing anything.
        #[arg(long)]
        preview: bool,
        /// Import as this user (finance or a vendor admin), whom the audit log then names;
        /// without it the log records the command line.
        #[arg(long = "as", value_name = "EMAIL")]
        as_user: Option<String>,
    },
    /// Rebates: `run 2026-Q2` creates or recomputes the period's draft statements.
    #[command(subcommand)]
    Rebates(RebatesCommand),
    /// Create a vendor administrator. The password is read from ATRIUM_ADMIN_PASSWORD or stdin.
    CreateAdmin {
        /// The administrator's e-mail address.
        #[arg(long)]
        email: String,
        /// The administrator's name.
        #[arg(long)]
        name: String,
        /// The vendor's name, when the database has no vendor organisation yet.
        #[arg(long, default_value = "")]
        vendor: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FactFile {
    Sales,
    Certifications,
}

#[derive(Subcommand)]
enum RebatesCommand {
    /// Run rebates for a fiscal period, e.g. 2026-Q2.
    Run {
        /// The period.
        period: String,
        /// Run as this user (finance or a vendor admin), whom the audit log then names;
        /// without it the log records the command line.
        #[arg(long = "as", value_name = "EMAIL")]
        as_user: Option<String>,
    },
    /// Print the statements a run would produce, from files alone (no database).
    Simulate {
        /// The program (TOML, or JSON by extension).
        #[arg(long)]
        program: std::path::PathBuf,
        /// Sales (CSV, or JSON lines with a .jsonl, .ndjson or .json name).
        #[arg(long)]
        sales: std::path::PathBuf,
        /// The period, e.g. 2026-Q2.
        #[arg(long)]
        period: String,
        /// Tiers per partner (`partner_id,tier[,partner_type]`); without it, each partner's tier
        /// is the one its sales alone qualify for.
        #[arg(long)]
        tiers: Option<std::path::PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: SimulationFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SimulationFormat {
    Json,
    Csv,
}

/// The user named by `--as`, if any; their role is checked by the action itself.
async fn acting_user(
    portal: &service::Portal,
    email: Option<&str>,
) -> anyhow::Result<Option<service::Actor>> {
    match email {
        Some(email) => Ok(Some(
            portal
                .actor_by_email(email)
                .await
                .map_err(|e| anyhow::anyhow!("--as {email}: {e}"))?,
        )),
        None => Ok(None),
    }
}

/// A file's text; one that is not UTF-8 is refused naming the line of its first stray byte.
fn read_file(path: &std::path::Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        let error = domain::facts::decode_import(e.as_bytes())
            .err()
            .map_or_else(|| e.to_string(), |row| row.located());
        anyhow::anyhow!("{}: {error}", path.display())
    })
}

/// A refused file's errors on stderr, as many as an import lists, then how many more there
/// are; answers how many there are in all.
fn list_errors(path: &std::path::Path, report: &service::imports::ImportReport) -> usize {
    for e in &report.errors {
        eprintln!("{}: {}", path.display(), e.located());
    }
    if report.errors_not_listed() > 0 {
        eprintln!(
            "{}: … and {} more errors, not listed",
            path.display(),
            report.errors_not_listed()
        );
    }
    report.error_count.max(report.errors.len())
}

fn row_errors(path: &std::path::Path, errors: Vec<service::imports::RowError>) -> anyhow::Error {
    let errors = list_errors(path, &service::imports::ImportReport::default().refused(errors));
    anyhow::anyhow!(
        "{}: {errors} error{}; nothing was simulated",
        path.display(),
        if errors == 1 { "" } else { "s" }
    )
}

/// A program document: JSON for a `.json` file, TOML otherwise.
fn read_program_doc(path: &std::path::Path) -> anyhow::Result<ProgramDoc> {
    let text = read_file(path)?;
    if path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"))
    {
        ProgramDoc::from_json(&text)
    } else {
        ProgramDoc::from_toml(&text)
    }
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// A program file, read and validated.
fn read_program(path: &std::path::Path) -> anyhow::Result<domain::program::Program> {
    read_program_doc(path)?
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn simulate(
    program: &std::path::Path,
    sales: &std::path::Path,
    period: &str,
    tiers: Option<&std::path::Path>,
    format: SimulationFormat,
) -> anyhow::Result<()> {
    use service::simulate;
    let program_value = read_program(program)?;
    let period =
        domain::period::FiscalPeriod::parse(period, "--period").map_err(|e| anyhow::anyhow!("{e}"))?;
    let sales_rows = simulate::read_sales(
        &read_file(sales)?,
        ImportFormat::from_file_name(&sales.to_string_lossy()),
        &program_value,
        // Without a database there is no business time zone: today's UTC date bounds `booked_on`.
        domain::calendar::Date::from_unix_millis(service::Clock::now_millis(&service::SystemClock)),
    )
    .map_err(|e| row_errors(sales, e))?;
    let tier_rows = match tiers {
        Some(path) => Some(
            simulate::read_tiers(
                &read_file(path)?,
                ImportFormat::from_file_name(&path.to_string_lossy()),
                &program_value,
            )
            .map_err(|e| row_errors(path, e))?,
        ),
        None => None,
    };
    let statements = simulate::simulate(&program_value, &sales_rows, tier_rows.as_ref(), period);
    // A partner without a statement is one whose tier has no plan: said on stderr, so that an
    // empty result is never mistaken for "no rebates are owed".
    let partners: std::collections::BTreeSet<i64> = sales_rows
        .iter()
        .flat_map(|s| std::iter::once(s.partner_id).chain(s.distributor_id))
        .chain(tier_rows.iter().flat_map(|t| t.keys().copied()))
        .collect();
    if let Some(given) = &tier_rows {
        let guessed = partners.iter().filter(|p| !given.contains_key(p)).count();
        if guessed > 0 {
            eprintln!(
                "{guessed} of {} partners are not in {}: their tiers come from their sales alone",
                partners.len(),
                tiers.map_or_else(String::new, |t| t.display().to_string())
            );
        }
    }
    let without_plan = partners.len().saturating_sub(statements.len());
    if without_plan > 0 {
        eprintln!(
            "{without_plan} of {} partners get no statement: their tier has no rebate plan{}",
            partners.len(),
            if tiers.is_none() {
                " (from sales alone; criteria such as certified_people or deals_won need --tiers)"
            } else {
                ""
            }
        );
    }
    let output = match format {
        SimulationFormat::Json => serde_json::to_string_pretty(&statements)? + "\n",
        SimulationFormat::Csv => simulate::to_csv(&statements),
    };
    print_out(&output)
}

/// Writes a command's output. A reader that stops early (`| head`) closes the pipe: that ends
/// the output quietly, as it does for any other command-line tool.
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

#[derive(Subcommand)]
enum ProgramCommand {
    /// Validate a program file (TOML, or JSON by extension) and add it as a new version.
    Import {
        /// The program document.
        file: std::path::PathBuf,
        /// First day it applies (YYYY-MM-DD); today when left out.
        #[arg(long)]
        effective_from: Option<String>,
    },
    /// Print the program in force today as TOML.
    Export,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("ATRIUM_ADMIN_PASSWORD") {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        eprint!("Password (at least 12 characters, shown as you type): ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // A simulation needs no database and no server settings: a broken `atrium.toml` in the
    // directory must not stop it.
    if let Some(Command::Rebates(RebatesCommand::Simulate {
        program,
        sales,
        period,
        tiers,
        format,
    })) = &cli.command
    {
        return simulate(program, sales, period, tiers.as_deref(), *format);
    }
    let mut config = Config::load()?;
    if cli.json_logs {
        config.log_format = LogFormat::Json;
    }
    init_logging(config.log_format);
    let portal = open_portal(
        config.database_url(),
        config.database_connections,
        config.portal_settings(),
    )
    .await?;
    match cli.command.unwrap_or(Command::Serve {
        demo: std::env::var("ATRIUM_DEMO").is_ok_and(|v| v == "1" || v == "true"),
    }) {
        Command::Migrate => {
            println!("Database is up to date.");
        }
        Command::Demo => match portal.load_demo().await? {
            DemoOutcome::Loaded => {
                println!("Demo data loaded. Every demo user's password is {DEMO_PASSWORD}.")
            }
            DemoOutcome::AlreadyPresent => println!("Demo data already present; nothing to do."),
        },
        Command::Program(ProgramCommand::Export) => {
            let stored = portal
                .program_on(portal.today())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no program is in force yet; import one first"))?;
            print!(
                "# In force from {}\n{}",
                stored.effective_from,
                stored.document.to_toml()
            );
        }
        Command::Program(ProgramCommand::Import { file, effective_from }) => {
            let document = read_program_doc(&file)?;
            let effective_from = match effective_from {
                Some(text) => Date::parse(&text, "--effective-from").map_err(|e| anyhow::anyhow!("{e}"))?,
                None => portal.today(),
            };
            let version = portal
                .import_program(effective_from, document)
                .await
                .map_err(|e| match e.field() {
                    Some(field) => anyhow::anyhow!("{}: {field}: {}", file.display(), e.user_message()),
                    None => anyhow::anyhow!("{e}"),
                })?;
            println!(
                "Program version {} applies from {}.",
                version.id, version.effective_from
            );
        }
        Command::Import {
            facts,
            file,
            preview,
            as_user,
        } => {
            let actor = acting_user(&portal, as_user.as_deref()).await?;
            let actor = actor.as_ref();
            let text = read_file(&file)?;
            let format = ImportFormat::from_file_name(&file.to_string_lossy());
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let progress = |done: usize, total: usize| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            };
            let report = match facts {
                FactFile::Sales => {
                    portal
                        .import_sales(actor, &text, format, preview, &progress)
                        .await?
                }
                FactFile::Certifications => {
                    portal
                        .import_certifications(actor, &text, format, preview, &progress)
                        .await?
                }
            };
            bar.finish_and_clear();
            if !report.errors.is_empty() {
                let errors = list_errors(&file, &report);
                anyhow::bail!(
                    "{errors} error{} in {}; nothing was stored",
                    if errors == 1 { "" } else { "s" },
                    // A file refused for its header or as empty has no rows to count.
                    match report.rows {
                        0 => "the file".to_owned(),
                        1 => "a file of 1 row".to_owned(),
                        rows => format!("a file of {rows} rows"),
                    }
                );
            }
            println!("{}", report.summary());
            if let Some(preview) = &report.preview {
                print_preview(preview, report.updated);
            }
        }
        Command::Rebates(RebatesCommand::Simulate { .. }) => {
            unreachable!("handled before the database opens")
        }
        Command::Rebates(RebatesCommand::Run { period, as_user }) => {
            let period =
                domain::period::FiscalPeriod::parse(&period, "period").map_err(|e| anyhow::anyhow!("{e}"))?;
            let actor = acting_user(&portal, as_user.as_deref()).await?;
            let run = portal.run_rebates(actor.as_ref(), period).await?;
            println!(
                "Rebate run {} for {}: {} draft statements totalling {} {}, {} locked statements left as they were.",
                run.id,
                run.period,
                run.drafts,
                domain::money::format_minor(run.draft_total, run.minor_digits),
                run.currency,
                run.locked
            );
        }
        Command::CreateAdmin { email, name, vendor } => {
            let password = read_password()?;
            let id = portal
                .create_vendor_admin(&email, &name, &password, &vendor)
                .await?;
            println!("Created vendor admin {email} (user {id}).");
        }
        Command::Serve { demo } => {
            if demo {
                report_demo(portal.load_demo().await?);
            }
            let leptos_options = site_options()?;
            let bind = config
                .bind
                .clone()
                .unwrap_or_else(|| leptos_options.site_addr.to_string());
            let state = AppState {
                leptos_options,
                portal,
                secure_cookies: config.secure_cookies,
            };
            let smtp = config.smtp()?;
            let app = Application::build(state, &bind).await?;
            tokio::spawn(server::jobs::run_daily_tier_evaluation(app.portal().clone()));
            tokio::spawn(server::jobs::run_scheduler(app.portal().clone(), smtp));
            tracing::info!(address = %app.local_addr(), database = ?app_backend(&config), "Atrium is listening");
            app.run_until(shutdown_signal()).await?;
        }
    }
    Ok(())
}

fn report_demo(outcome: DemoOutcome) {
    match outcome {
        DemoOutcome::Loaded => println!("Demo data loaded. Every demo user's password is {DEMO_PASSWORD}."),
        DemoOutcome::AlreadyPresent => println!("Demo data already present; nothing to do."),
    }
}

fn app_backend(config: &Config) -> &'static str {
    if config.database_url().starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("atrium: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A preview's totals and the stored rows the file would change, a line each.
fn print_preview(preview: &domain::facts::ImportPreview, changed: usize) {
    for (name, value) in &preview.totals {
        println!("{name}: {value}");
    }
    for change in &preview.changes {
        println!(
            "changes {} (row {}): {}",
            change.key,
            change.row,
            change.describe()
        );
    }
    if changed > preview.changes.len() {
        println!("and {} more changed", changed - preview.changes.len());
    }
}
