//! The Kubernetes manifests in `scenarios/kubernetes/` are valid against
//! the Kubernetes API schemas, offline (`kubernetes-validate --strict`,
//! which ships the schemas), and they fit pushproof: the load shards are an
//! Indexed Job whose `--shard` comes from `JOB_COMPLETION_INDEX`, every
//! command line they run parses as pushproof's own, the Service fronts
//! the ports the mocks bind, and a merge step merges the shards.
//!
//! The first run creates `tests/kubernetes/.venv` and installs the pinned
//! `requirements.txt` into it (registry access once); it needs Python 3
//! with `venv` and pip, and fails naming them when they are missing.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use clap::Parser as _;
use serde_json::Value;

const HINT: &str = "the Kubernetes manifest test validates with the PyPI package kubernetes-validate: \
     install Python 3 with its venv module and pip (`apt-get install python3 python3-venv python3-pip`)";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn venv_bin(name: &str) -> PathBuf {
    root().join("tests/kubernetes/.venv/bin").join(name)
}

fn run(program: &Path, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; {HINT}", program.display()))
}

/// The venv with the pinned validator, created once per test binary.
fn validator() -> &'static Path {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY.get_or_init(|| {
        let requirements = root().join("tests/kubernetes/requirements.txt");
        let pinned = std::fs::read_to_string(&requirements).unwrap();
        let pin = pinned
            .lines()
            .find(|l| l.starts_with("kubernetes-validate=="))
            .unwrap()
            .trim()
            .to_owned();
        let pip = venv_bin("pip");
        let installed = pip.exists()
            && String::from_utf8_lossy(
                &run(&pip, &["freeze", "--disable-pip-version-check"]).stdout,
            )
            .lines()
            .any(|l| l.trim() == pin);
        if !installed {
            let venv = root().join("tests/kubernetes/.venv");
            if !pip.exists() {
                let made = run(
                    Path::new("python3"),
                    &["-m", "venv", venv.to_str().unwrap()],
                );
                assert!(
                    made.status.success(),
                    "creating {}: {}; {HINT}",
                    venv.display(),
                    String::from_utf8_lossy(&made.stderr)
                );
            }
            let out = run(
                &pip,
                &[
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "-q",
                    "-r",
                    requirements.to_str().unwrap(),
                ],
            );
            assert!(
                out.status.success(),
                "pip install: {}; registry access is needed once",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        venv_bin("kubernetes-validate")
    })
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Every document of every manifest, as JSON (read by the venv's PyYAML).
fn documents() -> Vec<Value> {
    let python = venv_bin("python");
    let script = "import json, sys, yaml\nprint(json.dumps([d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]))";
    let mut args = vec!["-c", script];
    let files = manifests();
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    validator();
    let out = run(&python, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn the_manifests_validate_offline_against_the_kubernetes_schemas() {
    let validate = validator();
    let files = manifests();
    assert!(files.len() >= 4, "{files:?}");
    let mut args = vec!["--strict"];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let out = run(validate, &args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("ERROR"), "{text}");

    // The validator does reject a wrong manifest: a count that is text.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    let job = std::fs::read_to_string(root().join("scenarios/kubernetes/30-load.yaml")).unwrap();
    std::fs::write(&broken, job.replace("completions: 4", "completions: four")).unwrap();
    let out = run(validate, &["--strict", broken.to_str().unwrap()]);
    assert!(!out.status.success(), "a broken Job passed validation");
}

/// A container's arguments with each `$(NAME)` replaced as Kubernetes
/// would, from `vars`.
fn expand(args: &[Value], vars: &[(&str, String)]) -> Vec<String> {
    args.iter()
        .map(|a| {
            let mut text = a.as_str().unwrap().to_owned();
            for (name, value) in vars {
                text = text.replace(&format!("$({name})"), value);
            }
            assert!(
                !text.contains("$("),
                "{text} references a variable the pod does not define"
            );
            text
        })
        .collect()
}

#[test]
fn the_shards_are_an_indexed_job_running_pushproof_load_and_a_merge_step() {
    let docs = documents();
    let config = &find(&docs, "ConfigMap", "pushproof-load")["data"];
    let job = find(&docs, "Job", "pushproof-load");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    let completions = job["spec"]["completions"].as_u64().unwrap();
    assert_eq!(job["spec"]["parallelism"].as_u64(), Some(completions));
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let env = container["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "JOB_COMPLETION_INDEX"
        && e["valueFrom"]["fieldRef"]["fieldPath"]
            .as_str()
            .unwrap()
            .contains("job-completion-index")));
    let raw = container["args"].as_array().unwrap();
    assert!(raw
        .iter()
        .any(|a| a.as_str() == Some(&format!("--shard=$(JOB_COMPLETION_INDEX)/{completions}"))));
    // Every shard's command line parses as pushproof's, into its own share.
    for index in 0..completions {
        let mut vars: Vec<(&str, String)> = config
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap().to_owned()))
            .collect();
        vars.push(("JOB_COMPLETION_INDEX", index.to_string()));
        let mut argv = vec!["pushproof".to_owned()];
        argv.extend(expand(raw, &vars));
        let cli =
            pushproof::cli::Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        let text = format!("{:?}", cli.command);
        assert!(text.starts_with("Load("), "{text}");
        assert!(
            text.contains(&format!(
                "shard: Shard {{ index: {index}, count: {completions} }}"
            )),
            "{text}"
        );
    }

    // The mocks bind the ports their Service fronts, under its name.
    let mocks =
        &find(&docs, "Deployment", "pushproof-mocks")["spec"]["template"]["spec"]["containers"][0];
    let mut argv = vec!["pushproof".to_owned()];
    argv.extend(expand(mocks["args"].as_array().unwrap(), &[]));
    pushproof::cli::Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let service = find(&docs, "Service", "pushproof-mocks");
    let ports: Vec<String> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].to_string())
        .collect();
    assert!(
        argv.contains(&format!("--ports={}", ports.join(","))),
        "{argv:?} vs {ports:?}"
    );
    assert!(argv.contains(&"--advertise=pushproof-mocks".to_owned()));
    assert!(raw.iter().any(|a| a
        .as_str()
        .unwrap()
        .starts_with("--mocks-url=http://pushproof-mocks:")));

    // The merge step merges what the shards wrote.
    let merge = &find(&docs, "Job", "pushproof-merge")["spec"]["template"]["spec"]["containers"][0];
    let script = merge["args"][0].as_str().unwrap();
    assert!(
        script.contains("pushproof report merge /shared/reports/$RUN/shard-*"),
        "{script}"
    );
    assert!(raw
        .iter()
        .any(|a| a.as_str()
            == Some("--report-dir=/shared/reports/$(RUN)/shard-$(JOB_COMPLETION_INDEX)")));
}
