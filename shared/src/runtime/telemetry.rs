//! Logging for every function and the CLI: `tracing`, JSON when Lambda asks for it
//! (`AWS_LAMBDA_LOG_FORMAT=JSON`), readable text otherwise; level from `AWS_LAMBDA_LOG_LEVEL`,
//! else `RUST_LOG`, else `info`.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

impl LogSettings {
    /// Reads the settings from an environment lookup (injected for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let format = match get("AWS_LAMBDA_LOG_FORMAT") {
            Some(f) if f.eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        };
        let filter = get("AWS_LAMBDA_LOG_LEVEL")
            .map(|level| level.to_ascii_lowercase())
            .or_else(|| get("RUST_LOG"))
            .filter(|f| !f.trim().is_empty())
            .unwrap_or_else(|| "info".to_owned());
        Self { format, filter }
    }

    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

/// Installs the global subscriber once; later calls are no-ops (tests call it repeatedly).
pub fn init() {
    let _already_set = tracing::subscriber::set_global_default(subscriber(
        &LogSettings::from_env(),
        std::io::stderr,
    ));
}

/// The subscriber for `settings`, writing to `writer` (stderr in production, a buffer in tests).
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    match settings.format {
        // Lambda adds its own timestamp and request id; keep the line small.
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .without_time()
                .finish(),
        ),
        LogFormat::Text => Box::new(builder.finish()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> LogSettings {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LogSettings::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn lambda_json_format_and_level_win() {
        let s = settings(&[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
            ("RUST_LOG", "warn"),
        ]);
        assert_eq!(
            s,
            LogSettings {
                format: LogFormat::Json,
                filter: "debug".into()
            }
        );
    }

    #[test]
    fn defaults_to_text_and_rust_log_then_info() {
        assert_eq!(
            settings(&[("RUST_LOG", "servicekanal=trace")]),
            LogSettings {
                format: LogFormat::Text,
                filter: "servicekanal=trace".into()
            }
        );
        assert_eq!(settings(&[]).filter, "info");
        assert_eq!(
            settings(&[("AWS_LAMBDA_LOG_FORMAT", "Text")]).format,
            LogFormat::Text
        );
    }
}
