//! The SAM template sets every environment variable each function reads at cold start: each
//! function's `Environment::read` runs on exactly the variables `template.yaml` gives it.

use servicekanal_shared::runtime::{Env, StartupError};
use std::collections::BTreeSet;

const TEMPLATE: &str = include_str!("../../template.yaml");

/// The variable names under `Environment: Variables:` of one block of the template (the
/// `Globals` function section or a function resource), found by indentation.
fn variables_of(block_header: &str) -> BTreeSet<String> {
    let lines: Vec<&str> = TEMPLATE.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == block_header)
        .unwrap_or_else(|| panic!("{block_header:?} is in template.yaml"));
    let indent = |l: &str| l.len() - l.trim_start().len();
    let block_indent = indent(lines[start]);
    let mut names = BTreeSet::new();
    let mut variables_indent = None;
    for line in &lines[start + 1..] {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if indent(line) <= block_indent {
            break;
        }
        match variables_indent {
            None if line.trim() == "Variables:" => variables_indent = Some(indent(line)),
            Some(at) if indent(line) > at => {
                let (name, _) = line.trim().split_once(':').expect("NAME: value");
                names.insert(name.to_owned());
            }
            Some(_) => variables_indent = None,
            None => {}
        }
    }
    names
}

/// The lookup a deployed function sees: the global variables and its own, with a value each.
fn deployed(resource: &str) -> BTreeSet<String> {
    let mut names = variables_of("  Function:");
    names.extend(variables_of(&format!("  {resource}:")));
    names
}

fn env_of(names: &BTreeSet<String>) -> Env<'_> {
    Env::from_lookup(move |name| {
        names.contains(name).then(|| match name {
            // Parameters with allowed values: the template's defaults.
            "AGENT_DESK" => "connect".to_owned(),
            "CHAT_CUSTOMER_NAME" => "masked".to_owned(),
            _ => format!("{name}-from-template"),
        })
    })
}

#[test]
fn every_function_finds_its_settings_in_the_template() {
    let webhook = deployed("WhatsAppWebhookFunction");
    let env = whatsapp_webhook::Environment::read(&env_of(&webhook)).unwrap();
    assert_eq!(env.inbound_queue_url, "INBOUND_QUEUE_URL-from-template");

    let bot = deployed("BotReplyFunction");
    let env = bot_reply::Environment::read(&env_of(&bot)).unwrap();
    assert_eq!(env.table_name, "TABLE_NAME-from-template");
    assert!(
        env.whatsapp.api_version.is_some(),
        "GRAPH_API_VERSION is set"
    );

    match env.desk {
        bot_reply::DeskSettings::Connect {
            contact_flow_id, ..
        } => assert_eq!(contact_flow_id, "HANDOVER_CONTACT_FLOW_ID-from-template"),
        other => panic!("the template's default desk is Connect chat, got {other:?}"),
    }

    survey::Environment::read(&env_of(&deployed("SurveyFunction"))).unwrap();
    connect_records::Environment::read(&env_of(&deployed("ConnectRecordsFunction"))).unwrap();
    voice_intake::Environment::read(&env_of(&deployed("VoiceIntakeFunction"))).unwrap();
    stats_export::Environment::read(&env_of(&deployed("StatsExportFunction"))).unwrap();
    retention_sweeper::Environment::read(&env_of(&deployed("RetentionSweeperFunction"))).unwrap();
}

#[test]
fn a_variable_missing_from_the_template_stops_the_cold_start_by_name() {
    let mut webhook = deployed("WhatsAppWebhookFunction");
    webhook.remove("INBOUND_QUEUE_URL");
    match whatsapp_webhook::Environment::read(&env_of(&webhook)) {
        Err(StartupError::MissingEnv(name)) => assert_eq!(name, "INBOUND_QUEUE_URL"),
        other => panic!("expected MissingEnv, got {other:?}"),
    }
}

/// The functions of the template: resource name, `CodeUri` and the `Binary` cargo-lambda
/// builds into its `bootstrap`.
fn template_functions() -> Vec<(String, String, String)> {
    let lines: Vec<&str> = TEMPLATE.lines().collect();
    let mut functions = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != "Type: AWS::Serverless::Function" {
            continue;
        }
        let name = lines[i - 1].trim().trim_end_matches(':').to_owned();
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.starts_with("    "))
            .copied()
            .collect();
        let value = |key: &str| {
            block
                .iter()
                .find_map(|l| l.trim().strip_prefix(key))
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| panic!("{name} has no {key}"))
        };
        functions.push((name.clone(), value("CodeUri:"), value("Binary:")));
    }
    functions
}

#[test]
fn every_function_of_the_template_is_a_binary_of_the_workspace_and_every_lambda_is_deployed() {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // Binaries of the workspace's function crates (functions/<name>), by name.
    let mut lambda_binaries = BTreeSet::new();
    let mut all_binaries = BTreeSet::new();
    for package in metadata["packages"].as_array().unwrap() {
        let manifest = package["manifest_path"].as_str().unwrap();
        for target in package["targets"].as_array().unwrap() {
            if target["kind"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == "bin")
            {
                let name = target["name"].as_str().unwrap().to_owned();
                if manifest.contains("/functions/") {
                    lambda_binaries.insert(name.clone());
                }
                all_binaries.insert(name);
            }
        }
    }
    let functions = template_functions();
    assert!(functions.len() >= 7, "{functions:?}");
    let mut deployed = BTreeSet::new();
    for (name, code_uri, binary) in &functions {
        // cargo-lambda builds from the workspace root, where Cargo.toml names every member.
        assert_eq!(code_uri, ".", "{name}: CodeUri must be the workspace root");
        assert!(
            all_binaries.contains(binary),
            "{name} builds binary {binary:?}, which no workspace member has"
        );
        deployed.insert(binary.clone());
    }
    assert_eq!(
        deployed, lambda_binaries,
        "every Lambda crate under functions/ is deployed by the template, and only those"
    );
}

#[test]
fn the_secrets_template_fills_every_field_ops_set_with_the_refused_placeholder() {
    use servicekanal_shared::ports::secrets::{FIELDS, PLACEHOLDER};
    let line = TEMPLATE
        .lines()
        .find(|l| l.trim_start().starts_with("SecretStringTemplate:"))
        .expect("the service secret's template");
    let json = line.split_once(':').unwrap().1.trim().trim_matches('\'');
    let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).unwrap();
    // The pseudonym key is generated; the other three are set by ops.
    for field in FIELDS.iter().filter(|f| **f != "pseudonym_key") {
        assert_eq!(fields[*field], PLACEHOLDER, "{field}");
    }
    assert!(TEMPLATE.contains("GenerateStringKey: pseudonym_key"));
}
