//! `servicekanal`: the local stack and ops commands.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use servicekanal_shared::lisa::catalogue::Catalogue;
use servicekanal_shared::lisa::classify::Classifier;
use servicekanal_shared::lisa::evaluate;
use servicekanal_shared::retention::{POLICIES, Period};
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
enum Command {
    /// Start the local stack: every function in one process, the chat simulator at /.
    Dev {
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 8080, env = "SERVICEKANAL_PORT")]
        port: u16,
        /// Where the embedded store keeps its data.
        #[arg(long, default_value = ".servicekanal", env = "SERVICEKANAL_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Sales' callback requests: list the open ones, mark one done (deleted) or on hold.
    Callbacks {
        #[command(subcommand)]
        action: CallbacksAction,
        /// The local stack to talk to.
        #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
        local: String,
        /// The DynamoDB table in AWS instead (credentials and region from the environment).
        #[arg(long, global = true, env = "SERVICEKANAL_TABLE")]
        table: Option<String>,
    },
    /// Print the retention table: every class, its period and what it holds.
    Retention,
    /// Classify messages: one per line on stdin, one topic id per line on stdout.
    Classify {
        /// Topic catalogue to use instead of the shipped one.
        #[arg(long, env = "LISA_TOPICS_FILE")]
        topics: Option<PathBuf>,
        /// Print every topic's score and matched keywords instead of the topic id.
        #[arg(long)]
        explain: bool,
    },
    /// Print an argon2 hash of the password read from stdin (for the customer directory).
    HashPassword,
    /// Report the classifier's accuracy per topic on a labelled set (topic<TAB>message).
    EvalTopics {
        /// Labelled set to use instead of the shipped one.
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long, env = "LISA_TOPICS_FILE")]
        topics: Option<PathBuf>,
    },
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

fn callbacks(action: CallbacksAction, local: String, table: Option<String>) -> Result<()> {
    use servicekanal_cli::sales::{Backend, render};
    tokio::runtime::Runtime::new()?.block_on(async {
        let backend = match table {
            Some(table) => Backend::aws(&table).await,
            None => Backend::Local(local.trim_end_matches('/').to_owned()),
        };
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
    })
}

fn catalogue(path: Option<PathBuf>) -> Result<Catalogue> {
    Ok(match path {
        Some(path) => Catalogue::load(&path)?,
        None => Catalogue::embedded(),
    })
}

fn main() -> Result<()> {
    servicekanal_shared::telemetry::init();
    match Cli::parse().command {
        Command::Dev { port, data_dir } => dev(port, &data_dir)?,
        Command::Callbacks {
            action,
            local,
            table,
        } => callbacks(action, local, table)?,
        Command::Retention => print!("{}", retention_table()),
        Command::Classify { topics, explain } => {
            let classifier = Classifier::new(&catalogue(topics)?);
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for line in std::io::stdin().lock().lines() {
                let line = line?;
                if explain {
                    writeln!(out, "{line}")?;
                    for e in classifier.explain(&line) {
                        writeln!(
                            out,
                            "  {:<22} {:>5.2}  {}",
                            e.topic,
                            e.score,
                            e.matched.join(", ")
                        )?;
                    }
                    writeln!(out, "  => {}", classifier.classify(&line).topic)?;
                } else {
                    writeln!(out, "{}", classifier.classify(&line).topic)?;
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
                servicekanal_shared::directory::hash_password(password)?
            );
        }
        Command::EvalTopics { file, topics } => {
            let set = match file {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => evaluate::EMBEDDED_SET.to_owned(),
            };
            let report = evaluate::evaluate(&catalogue(topics)?, &set)?;
            print!("{}", report.render());
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

fn dev(port: u16, data_dir: &std::path::Path) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let server = servicekanal_cli::dev::DevServer::open(data_dir)?;
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
