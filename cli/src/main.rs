//! `servicekanal`: the local stack and ops commands.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use servicekanal_cli::backend::Backend;
use servicekanal_cli::control::ControlApi;
use servicekanal_cli::topics;
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::catalogue::TOPIC_IDS;
use servicekanal_shared::lisa::evaluate;
use servicekanal_shared::lisa::model::TopicModel;
use servicekanal_shared::lisa::train::TrainSettings;
use servicekanal_shared::policy::retention::{POLICIES, Period};
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "servicekanal",
    version,
    about = "Servicekanal: local stack and ops commands"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum ReviewAction {
    /// The open review items (the default).
    List,
    /// Label an item with the right topic: stores an anonymised example, deletes the item.
    Label {
        #[arg(long)]
        id: String,
        #[arg(long)]
        topic: String,
    },
    /// Discard an item: nothing is kept.
    Discard {
        #[arg(long)]
        id: String,
    },
    /// Delete every labelled example containing TEXT (if a person's words slipped through).
    Purge {
        #[arg(long)]
        contains: String,
    },
}

async fn review(
    action: Option<ReviewAction>,
    stack: StackArgs,
    bucket: Option<String>,
) -> Result<()> {
    use servicekanal_cli::review::render;
    let backend = match (&stack.table, &bucket) {
        (Some(table), Some(bucket)) => Backend::aws_with_bucket(table, bucket).await?,
        _ => stack.backend(None).await?,
    };
    match action.unwrap_or(ReviewAction::List) {
        ReviewAction::List => print!("{}", render(&backend.review_list().await?)),
        ReviewAction::Label { id, topic } => {
            let example = backend.review_label(&id, &topic).await?;
            println!("labelled {id} as {topic}: {example}");
        }
        ReviewAction::Discard { id } => {
            backend.review_discard(&id).await?;
            println!("discarded {id}");
        }
        ReviewAction::Purge { contains } => {
            println!(
                "purged {} labelled examples",
                backend.review_purge(&contains).await?
            );
        }
    }
    Ok(())
}

#[derive(Subcommand)]
enum Command {
    /// Start the local stack: every function in one process, the chat simulator at /.
    Dev {
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 8080, env = "SERVICEKANAL_PORT")]
        port: u16,
        /// Where the embedded store keeps its data.
        #[arg(long, default_value = ".servicekanal", env = "SERVICEKANAL_DATA_DIR")]
        data_dir: PathBuf,
        /// The fault switch: failure rates per port and a seed, e.g.
        /// `store=0.05,queue=0.05,graph=0.1,objects=0.1,seed=7`; `crash=whatsapp.send:3` stops
        /// the process at that step (docs/reliability.md). Off by default.
        #[arg(long, default_value = "", env = "SERVICEKANAL_FAULTS")]
        faults: servicekanal_cli::faults::FaultPlan,
    },
    /// Load test of the local stack: many simulated contacts post signed webhook messages
    /// over HTTP; prints accepted messages/s, webhook and reply latencies, and whether every
    /// message was stored once and answered once (exit status 1 if not).
    Load {
        #[arg(long, default_value_t = 200)]
        contacts: usize,
        /// Messages each contact sends, one after the other.
        #[arg(long, default_value_t = 10)]
        messages: usize,
        /// Share of messages delivered twice, as WhatsApp retries.
        #[arg(long, default_value_t = 0.1)]
        duplicates: f64,
        /// Lisa's burst window in milliseconds (AWS default 2000; each waiting turn holds a
        /// consumer).
        #[arg(long, default_value_t = 0)]
        burst_window_ms: i64,
        /// The stack's data folder (default: a temporary one, removed afterwards).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The fault switch, as for `dev` (e.g. `store=0.05,queue=0.05,graph=0.1,objects=0.1`).
        #[arg(long, default_value = "")]
        faults: servicekanal_cli::faults::FaultPlan,
        /// The queues' visibility timeout in seconds (180 in AWS; short, so a failed deletion's
        /// message comes back within the run).
        #[arg(long, default_value_t = 10)]
        visibility_seconds: u64,
    },
    /// Sales' callback requests: list the open ones, mark one done (deleted) or on hold.
    Callbacks {
        #[command(subcommand)]
        action: CallbacksAction,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Print the retention table: every class, its period and what it holds.
    Retention,
    /// Right to be forgotten: delete everything stored about a person (chats, survey
    /// answers, callback requests), named by phone number or WhatsApp user id, except items
    /// under legal hold; prints counts per class.
    Erase {
        #[command(flatten)]
        person: PersonArgs,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Right of access: everything stored about a person (by phone number or WhatsApp user
    /// id), as one JSON document.
    Export {
        #[command(flatten)]
        person: PersonArgs,
        /// Write the document here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Legal holds: items blocked from use and from deletion. Lists them without a subcommand.
    Holds {
        #[command(subcommand)]
        action: Option<HoldsAction>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Lisa's review: messages she misunderstood (scrubbed); label them with the right topic
    /// (an anonymised training example) or discard them. Lists them without a subcommand.
    Review {
        #[command(subcommand)]
        action: Option<ReviewAction>,
        #[command(flatten)]
        stack: StackArgs,
        /// The stack's bucket (its `training/` prefix) in AWS, with --table.
        #[arg(long, global = true, env = "SERVICEKANAL_BUCKET")]
        bucket: Option<String>,
    },
    /// Classify messages: one per line on stdin, one topic id per line on stdout.
    Classify {
        /// Print the three likeliest topics and what Lisa would do instead of the topic id.
        #[arg(long)]
        explain: bool,
    },
    /// Print an argon2 hash of the password read from stdin (for the customer directory).
    HashPassword,
    /// Measure Lisa's topic model on a labelled set (`topic<TAB>message` per line; a header
    /// line and `#` comments are fine): accuracy per topic, confusions, how often she answers
    /// directly. Without --file: the shipped test set.
    EvalTopics {
        /// Labelled set to use instead of the shipped test set.
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long, env = "LISA_TOPICS_FILE")]
        topics: Option<PathBuf>,
    },
    /// Train Lisa's topic model from the labelled corpus (fixed seed: the same corpus gives the
    /// same file) and report cross-validated and test-set accuracy per topic.
    TrainTopics {
        #[arg(long, default_value = "shared/data/corpus/train.tsv")]
        train: PathBuf,
        /// Only measured, never trained on.
        #[arg(long, default_value = "shared/data/corpus/test.tsv")]
        test: PathBuf,
        #[arg(long, default_value = "shared/data/topic-model.bin")]
        out: PathBuf,
        /// Labelled examples from Lisa's review to train on as well: a directory (searched
        /// for *.tsv, e.g. `.servicekanal/lisa/training/labelled` or an `aws s3 sync` of the
        /// bucket's `training/labelled/`). The new model is written only if the test set does
        /// not get worse than with the model at --out.
        #[arg(long)]
        examples: Option<PathBuf>,
        /// The same from the stack's bucket in AWS: every example under its
        /// `training/labelled/` prefix (credentials and region from the environment).
        #[arg(long, conflicts_with = "examples")]
        examples_bucket: Option<String>,
        /// Fitting settings (defaults: the shipped model's; see `TrainSettings`).
        #[arg(long)]
        epochs: Option<usize>,
        #[arg(long)]
        learning_rate: Option<f32>,
        #[arg(long)]
        l2: Option<f32>,
        #[arg(long)]
        min_count: Option<u32>,
    },
}

/// Where a command acts: the local stack, or the table in AWS.
#[derive(clap::Args)]
struct StackArgs {
    /// The local stack to talk to.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    local: String,
    /// The DynamoDB table in AWS instead (credentials and region from the environment).
    #[arg(long, global = true, env = "SERVICEKANAL_TABLE")]
    table: Option<String>,
}

impl StackArgs {
    /// The local stack, or the table (with the pseudonym key of `secret`, if given).
    async fn backend(&self, secret: Option<&str>) -> Result<Backend> {
        Ok(match &self.table {
            Some(table) => Backend::aws(table, secret).await?,
            None => Backend::Local(ControlApi::new(self.local.trim_end_matches('/'))),
        })
    }
}

/// Where an ops command acts, with the secret it needs in AWS.
#[derive(clap::Args)]
struct TargetArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// The service secret (ARN or name) with the pseudonym key; needed with --table.
    #[arg(long, global = true, env = "SERVICEKANAL_SECRET_ARN")]
    secret: Option<String>,
}

impl TargetArgs {
    async fn privacy_backend(&self) -> Result<Backend> {
        self.stack.backend(self.secret.as_deref()).await
    }
}

#[derive(Subcommand)]
enum HoldsAction {
    /// Every item under legal hold, with its reason.
    List,
    /// Put a person's items (--phone) or one callback request (--reference) under legal hold.
    Place {
        #[arg(long, conflicts_with_all = ["reference", "user_id"], required_unless_present_any = ["reference", "user_id"])]
        phone: Option<String>,
        /// A person's WhatsApp user id (BSUID), e.g. DE.1349120865530274.
        #[arg(long, conflicts_with = "reference")]
        user_id: Option<String>,
        #[arg(long)]
        reference: Option<String>,
        /// Why: a case or ticket reference (shown by `holds`; no personal data).
        #[arg(long)]
        reason: String,
    },
    /// Release the holds of a person (--phone) or of one item (--key, as listed): their
    /// deadlines apply again, and what is past them is deleted at once.
    Release {
        #[arg(long, conflicts_with_all = ["key", "user_id"], required_unless_present_any = ["key", "user_id"])]
        phone: Option<String>,
        /// A person's WhatsApp user id (BSUID).
        #[arg(long, conflicts_with = "key")]
        user_id: Option<String>,
        #[arg(long)]
        key: Option<String>,
    },
}

/// Runs an ops command's future on a fresh runtime.
fn block_on<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Runtime::new()?.block_on(work)
}

/// The person an ops command names.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct PersonArgs {
    /// The person's number, e.g. +49 170 1234567 or 0170 1234567.
    #[arg(long)]
    phone: Option<String>,
    /// The person's WhatsApp user id (BSUID), e.g. DE.1349120865530274.
    #[arg(long)]
    user_id: Option<String>,
}

impl PersonArgs {
    fn person(self) -> Result<servicekanal_shared::policy::privacy::PersonRef> {
        servicekanal_cli::privacy::person_ref(self.phone, self.user_id)
            .context("name --phone or --user-id")
    }
}

async fn erase(person: PersonArgs, target: TargetArgs) -> Result<()> {
    let report = target
        .privacy_backend()
        .await?
        .erase(&person.person()?)
        .await?;
    print!("{}", servicekanal_cli::privacy::render_deletion(&report));
    Ok(())
}

async fn export(person: PersonArgs, out: Option<PathBuf>, target: TargetArgs) -> Result<()> {
    let document = target
        .privacy_backend()
        .await?
        .export(&person.person()?)
        .await?;
    let text = serde_json::to_string_pretty(&document)? + "\n";
    match out {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("{} items written to {}", document["items"], path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

async fn holds(action: Option<HoldsAction>, target: TargetArgs) -> Result<()> {
    use servicekanal_cli::privacy::{Target, person_ref, render_hold_report, render_holds};
    let backend = target.privacy_backend().await?;
    match action.unwrap_or(HoldsAction::List) {
        HoldsAction::List => print!("{}", render_holds(&backend.holds().await?)),
        HoldsAction::Place {
            phone,
            user_id,
            reference,
            reason,
        } => {
            let target = Target::of(person_ref(phone, user_id), reference, None)
                .context("name --phone, --user-id or --reference")?;
            let report = backend.place(&target, &reason).await?;
            print!("{}", render_hold_report("held", &report));
        }
        HoldsAction::Release {
            phone,
            user_id,
            key,
        } => {
            let target = Target::of(person_ref(phone, user_id), None, key)
                .context("name --phone, --user-id or --key")?;
            let report = backend.release(&target).await?;
            print!("{}", render_hold_report("released", &report));
        }
    }
    Ok(())
}

#[derive(Subcommand)]
enum CallbacksAction {
    /// Open callback requests, earliest window first.
    List,
    /// The callback is done: the request is deleted at once.
    Done { reference: String },
    /// Legal hold: the request is kept but blocked from any use.
    Hold { reference: String },
}

async fn callbacks(action: CallbacksAction, stack: StackArgs) -> Result<()> {
    use servicekanal_cli::sales::render;
    let backend = stack.backend(None).await?;
    match action {
        CallbacksAction::List => print!("{}", render(&backend.list().await?)),
        CallbacksAction::Done { reference } => {
            backend.done(&reference).await?;
            println!("{reference}: done, request deleted");
        }
        CallbacksAction::Hold { reference } => {
            backend.hold(&reference).await?;
            println!("{reference}: on legal hold, blocked from use");
        }
    }
    Ok(())
}

fn catalogue(path: Option<PathBuf>) -> Result<Catalogue> {
    Ok(match path {
        Some(path) => Catalogue::load(&path)?,
        None => Catalogue::embedded(),
    })
}

fn main() -> Result<()> {
    servicekanal_shared::runtime::telemetry::init();
    match Cli::parse().command {
        Command::Dev {
            port,
            data_dir,
            faults,
        } => dev(port, &data_dir, faults)?,
        Command::Load {
            contacts,
            messages,
            duplicates,
            burst_window_ms,
            data_dir,
            faults,
            visibility_seconds,
        } => {
            let options = servicekanal_cli::load::LoadOptions {
                contacts,
                messages_per_contact: messages,
                duplicate_share: duplicates,
                burst_window: chrono::Duration::milliseconds(burst_window_ms),
                data_dir,
                faults,
                visibility: std::time::Duration::from_secs(visibility_seconds),
                ..Default::default()
            };
            let report =
                tokio::runtime::Runtime::new()?.block_on(servicekanal_cli::load::run(options))?;
            print!("{}", report.markdown());
            for anomaly in report.audit.anomalies.iter().take(20) {
                eprintln!("{anomaly}");
            }
            anyhow::ensure!(
                report.holds(),
                "{} anomalies, {} empty statistics files, {} replies sent twice of {} at risk",
                report.audit.anomalies.len(),
                report.audit.empty_statistics_files,
                report.audit.replies_sent_unrecorded,
                report.faults.replies_at_risk()
            );
        }
        Command::Callbacks { action, stack } => block_on(callbacks(action, stack))?,
        Command::Retention => print!("{}", retention_table()),
        Command::Erase { person, target } => block_on(erase(person, target))?,
        Command::Export {
            person,
            out,
            target,
        } => block_on(export(person, out, target))?,
        Command::Holds { action, target } => block_on(holds(action, target))?,
        Command::Review {
            action,
            stack,
            bucket,
        } => block_on(review(action, stack, bucket))?,
        Command::Classify { explain } => {
            let model = TopicModel::embedded();
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for line in std::io::stdin().lock().lines() {
                let line = line?;
                if explain {
                    writeln!(out, "{line}")?;
                    write!(out, "{}", topics::explain(&model, &line))?;
                } else {
                    writeln!(out, "{}", model.predict(&line).topic)?;
                }
            }
        }
        Command::HashPassword => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!password.is_empty(), "no password on stdin");
            println!(
                "{}",
                servicekanal_shared::ports::directory::hash_password(password)?
            );
        }
        Command::EvalTopics { file, topics } => {
            let text = match file {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => evaluate::EMBEDDED_TEST_SET.to_owned(),
            };
            let set = evaluate::read_labelled(&text, &TOPIC_IDS)?;
            let report = evaluate::evaluate(&catalogue(topics)?, &TopicModel::embedded(), &set);
            print!("{}", report.render());
        }
        Command::TrainTopics {
            train,
            test,
            out,
            examples,
            examples_bucket,
            epochs,
            learning_rate,
            l2,
            min_count,
        } => {
            let defaults = TrainSettings::default();
            let settings = TrainSettings {
                epochs: epochs.unwrap_or(defaults.epochs),
                learning_rate: learning_rate.unwrap_or(defaults.learning_rate),
                l2: l2.unwrap_or(defaults.l2),
                min_count: min_count.unwrap_or(defaults.min_count),
                ..defaults
            };
            let read = |path: &PathBuf| {
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
            };
            let mut training = read(&train)?;
            if let Some(dir) = &examples {
                training.push_str(&topics::read_examples(dir)?);
            }
            if let Some(bucket) = &examples_bucket {
                training.push_str(&block_on(async {
                    let aws =
                        aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                    let objects = servicekanal_shared::ports::objects::s3::S3Bucket::new(
                        aws_sdk_s3::Client::new(&aws),
                        bucket.clone(),
                    );
                    servicekanal_cli::review::examples(&objects).await
                })?);
            }
            let examples = examples.is_some() || examples_bucket.is_some();
            let test = read(&test)?;
            let trained = topics::train_topics(&training, &test, &settings)?;
            print!("{}", trained.report);
            if examples {
                let current = std::fs::read(&out)
                    .ok()
                    .and_then(|bytes| TopicModel::from_bytes(&bytes).ok());
                let gate = topics::gate(current.as_ref(), &trained, &test)?;
                print!("{}", gate.report);
                anyhow::ensure!(
                    gate.accepted,
                    "the new model is worse on the test set; {} kept",
                    out.display()
                );
            }
            std::fs::write(&out, trained.model.to_bytes())
                .with_context(|| format!("writing {}", out.display()))?;
            println!("model written to {}", out.display());
        }
    }
    Ok(())
}

fn retention_table() -> String {
    let mut out = format!(
        "{:<12} {:<10} {:<8} {}\n",
        "class", "period", "sliding", "counted from / holds"
    );
    for p in POLICIES {
        let period = match p.period {
            Period::Days(d) => format!("{d} days"),
            Period::CalendarMonths(m) => format!("{m} months"),
        };
        let sliding = if p.sliding { "yes" } else { "no" };
        out.push_str(&format!(
            "{:<12} {:<10} {:<8} {}\n",
            p.id, period, sliding, p.anchor
        ));
        out.push_str(&format!("{:<32} {}\n", "", p.holds));
    }
    out
}

fn dev(
    port: u16,
    data_dir: &std::path::Path,
    faults: servicekanal_cli::faults::FaultPlan,
) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        if faults != servicekanal_cli::faults::FaultPlan::default() {
            tracing::warn!(?faults, "the fault switch is on");
        }
        let server = servicekanal_cli::dev::DevServer::open_faulty(
            data_dir,
            servicekanal_cli::faults::Faults::new(faults),
        )?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("port {port} is taken; try --port"))?;
        let address = listener.local_addr()?;
        tracing::info!(data_dir = %data_dir.display(), "local stack ready");
        eprintln!(
            "\nServicekanal local stack: open http://{address}/ (webhook at http://{address}/webhook, \
             data in {}). Ctrl-C stops it.\n",
            data_dir.display()
        );
        server.serve(listener).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_table_lists_every_class_with_its_period() {
        let table = retention_table();
        for (id, period) in [
            ("bot-7d", "7 days"),
            ("service-13m", "13 months"),
            ("survey-13m", "13 months"),
            ("callback-3m", "3 months"),
        ] {
            let line = table.lines().find(|l| l.starts_with(id)).expect(id);
            assert!(line.contains(period), "{line}");
        }
    }
}
