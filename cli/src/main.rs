//! `servicekanal`: the local stack and ops commands.

use anyhow::Result;
use clap::{Parser, Subcommand};
use servicekanal_shared::retention::{POLICIES, Period};

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
    /// Print the retention table: every class, its period and what it holds.
    Retention,
}

fn main() -> Result<()> {
    servicekanal_shared::telemetry::init();
    match Cli::parse().command {
        Command::Retention => print!("{}", retention_table()),
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
