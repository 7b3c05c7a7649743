//! The report views of a conformance run, each read back the way its
//! reader reads it: JUnit parsed as XML with its counts, SARIF validated
//! by Microsoft's SARIF Multitool (the JSON schema and GitHub's ingestion
//! rules), Markdown with its table and size limit, HTML escaping hostile
//! evidence. The browser reads the HTML in `tests/report_html.rs`.
//!
//! The SARIF test needs Node.js with npm: on first use it runs `npm ci` in
//! `tests/sarif/`, which installs the pinned
//! `@microsoft/sarif-multitool-linux` (a self-contained Linux x64 build of
//! the Multitool, with the SARIF 2.1.0 JSON schema) and Ajv, which
//! `tests/sarif/validate.mjs` validates against that schema with. Without
//! npm it fails, saying what to install.

#[path = "support/report_fixture.rs"]
mod fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

use fixture::{CANARY, HOSTILE_IMG, HOSTILE_SCRIPT};
use pushproof::conformance::{Level, Severity, Verdict};
use pushproof::report::suite::{Evidence, Hit};
use pushproof::report::{html, junit, markdown, sarif};
use serde_json::Value;

// ------------------------------------------------------------------ JUnit

fn attr<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
    node.attribute(name)
        .unwrap_or_else(|| panic!("<{}> has no {name}", node.tag_name().name()))
}

fn testcases<'a>(doc: &'a roxmltree::Document<'a>) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect()
}

fn case<'a>(doc: &'a roxmltree::Document<'a>, id: &str) -> roxmltree::Node<'a, 'a> {
    testcases(doc)
        .into_iter()
        .find(|n| attr(*n, "name").starts_with(&format!("{id} ")))
        .unwrap_or_else(|| panic!("no testcase for {id}"))
}

fn child<'a>(node: roxmltree::Node<'a, 'a>, tag: &str) -> Option<roxmltree::Node<'a, 'a>> {
    node.children().find(|n| n.has_tag_name(tag))
}

#[test]
fn junit_parses_with_one_testcase_per_check_and_the_right_counts() {
    let report = fixture::report();
    let xml = junit::render(&report);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));

    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suite = child(root, "testsuite").expect("one testsuite");
    assert_eq!(attr(suite, "name"), "pushproof");
    // 10 checks: LEAK-01, LEAK-03, AUTHZ-03 fail; LEAK-02 is an expected
    // failure and TOK-02 a skip (2 skipped); AUTHZ-01 is the error; the
    // WARN passes without --strict.
    assert_eq!(attr(suite, "tests"), "10");
    assert_eq!(attr(suite, "failures"), "3");
    assert_eq!(attr(suite, "errors"), "1");
    assert_eq!(attr(suite, "skipped"), "2");
    assert_eq!(attr(suite, "time"), "4.250");
    assert_eq!(attr(suite, "timestamp"), "2026-12-01T09:30:00Z");
    assert_eq!(attr(root, "failures"), "3");

    let props: Vec<(&str, &str)> = suite
        .descendants()
        .filter(|n| n.has_tag_name("property"))
        .map(|n| (attr(n, "name"), attr(n, "value")))
        .collect();
    for expected in [
        ("seed", "12345678901234567890"),
        ("run_id", "20261201T093000Z-12345678901234567890-ab12"),
        ("target", "java -jar acme.jar"),
        ("catalogue_version", "2026.12"),
    ] {
        assert!(props.contains(&expected), "{expected:?} in {props:?}");
    }

    let cases = testcases(&doc);
    assert_eq!(cases.len(), report.checks.len());
    let names: std::collections::HashSet<&str> = cases.iter().map(|c| attr(*c, "name")).collect();
    assert_eq!(names.len(), cases.len(), "testcase names are unique");

    let leak = case(&doc, "SP-LEAK-01");
    assert_eq!(attr(leak, "classname"), "SP-LEAK");
    assert_eq!(attr(leak, "name"), "SP-LEAK-01 No payload in push bodies");
    assert_eq!(attr(leak, "file"), "./scenarios/acme backend.toml");
    assert_eq!(attr(leak, "time"), "0.013");
    let failure = child(leak, "failure").expect("a failure");
    assert_eq!(
        attr(failure, "message"),
        "1 of 30 captured pushes carries a canary"
    );
    assert_eq!(attr(failure, "type"), "FAIL MUST Critical");
    let text = failure.text().unwrap_or_default();
    assert!(text.contains(CANARY), "the hit is quoted: {text}");
    assert!(
        text.contains("<script>window.__pwned"),
        "hostile text is kept as text: {text}"
    );
    assert!(text.contains("replay: pushproof check"), "{text}");

    let chain = child(case(&doc, "SP-LEAK-03"), "failure").expect("a failure");
    assert!(
        chain
            .text()
            .unwrap_or_default()
            .contains("base64url → gzip"),
        "{chain:?}"
    );

    let error = child(case(&doc, "SP-AUTHZ-01"), "error").expect("an error");
    // The ESC and NUL XML 1.0 forbids are written out, not dropped.
    assert!(
        attr(error, "message").contains("\\u001b[31mred"),
        "{error:?}"
    );
    assert!(error
        .text()
        .unwrap_or_default()
        .contains("sample: 3 of 32 probes"));

    let skipped = child(case(&doc, "SP-TOK-02"), "skipped").expect("skipped");
    assert_eq!(
        attr(skipped, "message"),
        "The profile declares no logout request. (enable with `capabilities.logout`)"
    );
    let expected = child(case(&doc, "SP-LEAK-02"), "skipped").expect("expected failure");
    assert_eq!(attr(expected, "type"), "expected-failure");
    assert!(attr(expected, "message").contains("PUSH-123"));

    let warn = case(&doc, "SP-HTTP-01");
    assert!(
        child(warn, "failure").is_none(),
        "WARN passes without --strict"
    );
    let out = child(warn, "system-out").expect("the warning is shown");
    assert!(out.text().unwrap_or_default().starts_with("WARN"));
    for id in ["SP-ID-01", "SP-FLOW-01", "SP-LIFE-04"] {
        let c = case(&doc, id);
        assert!(
            ["failure", "error", "skipped"]
                .iter()
                .all(|t| child(c, t).is_none()),
            "{id} passes"
        );
    }
    let stderr = child(suite, "system-err").expect("stale expectations are told");
    assert!(stderr
        .text()
        .unwrap_or_default()
        .contains("stale expected failure: SP-ID-01"));
}

#[test]
fn junit_fails_warnings_under_strict_and_numbers_repeated_names() {
    let mut report = fixture::report();
    report.run.strict = true;
    let dup = report.checks[0].clone();
    report.checks.push(dup);
    let xml = junit::render(&report);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let suite = child(doc.root_element(), "testsuite").expect("a testsuite");
    assert_eq!(
        attr(suite, "failures"),
        "5",
        "the WARN and the repeat count"
    );
    let warn = child(case(&doc, "SP-HTTP-01"), "failure").expect("WARN fails under --strict");
    assert_eq!(attr(warn, "type"), "WARN SHOULD Medium");
    let names: Vec<&str> = testcases(&doc).iter().map(|c| attr(*c, "name")).collect();
    assert!(
        names.contains(&"SP-LEAK-01 No payload in push bodies (2)"),
        "{names:?}"
    );
    let unique: std::collections::HashSet<&&str> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
}

#[test]
fn junit_survives_any_text_a_backend_sends() {
    let mut report = fixture::report();
    let nasty: String = (0u32..0x80)
        .filter_map(char::from_u32)
        .chain(['\u{fffe}', '\u{ffff}', '\u{1F512}'])
        .collect::<String>()
        + "]]></failure><x a='\"'>&amp;";
    for c in &mut report.checks {
        c.summary = nasty.clone();
        c.title = nasty.clone();
        c.id = format!("SP-{}-01", &nasty[0x41..0x45]);
    }
    report.target.description = nasty.clone();
    let xml = junit::render(&report);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert_eq!(testcases(&doc).len(), report.checks.len());
}

// ------------------------------------------------------------------ SARIF

#[test]
fn sarif_has_the_catalogue_as_rules_and_failures_located_in_the_profile() {
    let report = fixture::report();
    let log: Value = serde_json::from_str(&sarif::render(&report)).expect("JSON");
    assert_eq!(log["version"], "2.1.0");
    assert!(log["$schema"]
        .as_str()
        .unwrap_or_default()
        .contains("sarif-2.1.0"));
    let runs = log["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "pushproof");
    assert_eq!(driver["semanticVersion"], "0.1.0");
    let rules = driver["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), report.checks.len(), "the whole catalogue");
    let leak = &rules[0];
    assert_eq!(leak["id"], "SP-LEAK-01");
    assert_eq!(leak["name"], "NoPayloadInPushBodies");
    assert_eq!(leak["properties"]["security-severity"], "9.5");
    assert_eq!(leak["properties"]["tags"], serde_json::json!(["security"]));
    assert_eq!(leak["defaultConfiguration"]["level"], "error");
    assert!(leak["help"]["text"]
        .as_str()
        .unwrap_or_default()
        .contains("OWASP ASVS"));
    let http = rules
        .iter()
        .find(|r| r["id"] == "SP-HTTP-01")
        .expect("HTTP-01");
    assert_eq!(http["defaultConfiguration"]["level"], "warning");
    assert_eq!(http["properties"]["security-severity"], "5.5");

    let results = run["results"].as_array().expect("results");
    let ids: Vec<&str> = results
        .iter()
        .filter_map(|r| r["ruleId"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "SP-LEAK-01",
            "SP-LEAK-02",
            "SP-LEAK-03",
            "SP-AUTHZ-03",
            "SP-HTTP-01"
        ],
        "FAIL and WARN only"
    );
    for r in results {
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(
            loc["artifactLocation"]["uri"],
            "scenarios/acme%20backend.toml"
        );
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(loc["region"]["startLine"], 1);
        assert!(r["partialFingerprints"]["primaryLocationLineHash"].is_string());
        assert_eq!(r["properties"]["seed"], "12345678901234567890");
    }
    assert_eq!(results[0]["level"], "error");
    assert_eq!(results[4]["level"], "warning");
    assert!(results[0]["message"]["text"]
        .as_str()
        .unwrap_or_default()
        .contains(CANARY));
    assert_eq!(results[1]["suppressions"][0]["status"], "accepted");
    let fingerprints: std::collections::HashSet<&str> = results
        .iter()
        .filter_map(|r| r["partialFingerprints"]["primaryLocationLineHash"].as_str())
        .collect();
    assert_eq!(fingerprints.len(), results.len(), "one per check");

    // The error and the stale expectation are about the harness's run.
    let notes = run["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .expect("notifications");
    assert!(notes.iter().any(|n| n["descriptor"]["id"] == "SP-AUTHZ-01"));
    assert!(notes.iter().any(|n| n["message"]["text"]
        .as_str()
        .unwrap_or_default()
        .contains("SP-ID-01")));

    // The same check on the same profile keeps its fingerprint.
    let again: Value = serde_json::from_str(&sarif::render(&fixture::report())).expect("JSON");
    assert_eq!(
        again["runs"][0]["results"][0]["partialFingerprints"],
        results[0]["partialFingerprints"]
    );
}

#[test]
fn sarif_of_an_embedded_profile_points_at_the_documented_file() {
    let mut report = fixture::report();
    report.run.profile.path = None;
    let log: Value = serde_json::from_str(&sarif::render(&report)).expect("JSON");
    for r in log["runs"][0]["results"].as_array().expect("results") {
        let artifact = &r["locations"][0]["physicalLocation"]["artifactLocation"];
        assert_eq!(artifact["uri"], sarif::EMBEDDED_PROFILE_URI);
        assert_eq!(artifact["uriBaseId"], "%SRCROOT%");
    }
}

const NPM_HINT: &str = "the SARIF test validates with Microsoft's SARIF Multitool and Ajv from \
     npm: install Node.js >= 20 with npm (e.g. `apt-get install nodejs npm`) so that `node` and \
     `npm` are on PATH";

fn sarif_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("sarif")
}

/// The packages `tests/sarif/package.json` pins, installed at exactly
/// those versions, or what is missing.
fn installed_pins(dir: &Path) -> Result<(), String> {
    let read = |path: PathBuf| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    };
    let manifest = read(dir.join("package.json")).expect("tests/sarif/package.json");
    // npm writes this last: without it an install was cut short.
    if !dir.join("node_modules/.package-lock.json").is_file() {
        return Err("node_modules is missing or incomplete".to_owned());
    }
    let pins = manifest["dependencies"].as_object().expect("dependencies");
    for (name, pin) in pins {
        let installed = read(dir.join("node_modules").join(name).join("package.json"));
        let version = installed.as_ref().and_then(|m| m["version"].as_str());
        if version != pin.as_str() {
            return Err(format!("{name} {version:?} is installed, {pin} is pinned"));
        }
    }
    Ok(())
}

/// Installs the pinned validators once per test binary (`npm ci`).
fn sarif_tools() -> &'static Path {
    static READY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    READY.get_or_init(|| {
        let dir = sarif_dir();
        if let Err(why) = installed_pins(&dir) {
            eprintln!("sarif: {why}; running `npm ci` in {}", dir.display());
            let out = Command::new("npm")
                .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .output()
                .unwrap_or_else(|e| panic!("cannot run npm ({e}): {NPM_HINT}"));
            assert!(
                out.status.success(),
                "`npm ci` in {} failed:\n{}{}",
                dir.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            installed_pins(&dir).unwrap_or_else(|why| panic!("after `npm ci`: {why}"));
        }
        // Installed without running scripts, so the package's own `chmod`
        // of the Multitool did not run.
        let tool = dir.join("node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755))
                .unwrap_or_else(|e| panic!("{}: {e}", tool.display()));
        }
        dir
    })
}

/// Validates `log` against the SARIF 2.1.0 JSON schema (Ajv, draft
/// 2020-12, formats checked) and runs `Sarif.Multitool validate` with the
/// SARIF rules and GitHub's ingestion rules; returns every error and
/// warning either reported.
fn validate(log: &str, dir: &Path) -> Vec<String> {
    let tools = sarif_tools();
    let input = dir.join("pushproof.sarif");
    let output = dir.join("validation.sarif");
    std::fs::write(&input, log).expect("write the log");

    let out = Command::new("node")
        .arg(tools.join("validate.mjs"))
        .arg(&input)
        .current_dir(tools)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): {NPM_HINT}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let schema: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "validate.mjs failed ({}):\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        schema["schema"],
        "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    );
    let mut problems: Vec<String> = schema["errors"][input.to_string_lossy().as_ref()]
        .as_array()
        .expect("the file was validated")
        .iter()
        .map(|e| format!("schema: {}", e.as_str().unwrap_or_default()))
        .collect();

    let tool = tools.join("node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool");
    let out = Command::new(tool)
        .arg("validate")
        .arg(&input)
        .args(["--rule-kind", "Sarif;Gh", "--level", "Error;Warning"])
        .args(["--log", "ForceOverwrite"])
        .arg("--output")
        .arg(&output)
        .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
        .output()
        .expect("the Multitool runs");
    let validation: Value = std::fs::read_to_string(&output)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| {
            panic!(
                "the Multitool wrote no validation log ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
    // The tool's informationUri is the package's `repository`: until
    // Cargo.toml names one, the Multitool's advice to give it is expected.
    let no_repository = env!("CARGO_PKG_REPOSITORY").is_empty();
    for run in validation["runs"].as_array().into_iter().flatten() {
        for r in run["results"].as_array().into_iter().flatten() {
            if no_repository && r["ruleId"] == "SARIF2005" {
                continue;
            }
            problems.push(format!(
                "{} {}: {} {}",
                r["level"].as_str().unwrap_or("warning"),
                r["ruleId"].as_str().unwrap_or("?"),
                r["message"]["id"].as_str().unwrap_or_default(),
                r["message"]["arguments"]
            ));
        }
        for invocation in run["invocations"].as_array().into_iter().flatten() {
            let notes = [
                "toolExecutionNotifications",
                "toolConfigurationNotifications",
            ];
            for n in notes
                .iter()
                .flat_map(|k| invocation[*k].as_array().into_iter().flatten())
            {
                if n["level"] == "error" {
                    problems.push(format!("Multitool error: {}", n["message"]["text"]));
                }
            }
        }
    }
    problems
}

#[test]
fn sarif_validates_against_the_schema_and_github_rules() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let report = fixture::report();
    let problems = validate(&sarif::render(&report), dir.path());
    assert!(problems.is_empty(), "{problems:#?}");

    let mut embedded = fixture::report();
    embedded.run.profile.path = None;
    let problems = validate(&sarif::render(&embedded), dir.path());
    assert!(problems.is_empty(), "{problems:#?}");

    // The validators do catch what GitHub rejects: a level the schema does
    // not know, and (the Multitool reads only schema-valid logs) a result
    // without a location.
    let mut bad_level: Value = serde_json::from_str(&sarif::render(&report)).expect("JSON");
    bad_level["runs"][0]["results"][1]["level"] = Value::from("fatal");
    let problems = validate(&bad_level.to_string(), dir.path());
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("schema: /runs/0/results/1/level")),
        "{problems:#?}"
    );
    let mut unlocated: Value = serde_json::from_str(&sarif::render(&report)).expect("JSON");
    unlocated["runs"][0]["results"][0]
        .as_object_mut()
        .expect("a result")
        .remove("locations");
    let problems = validate(&unlocated.to_string(), dir.path());
    assert!(
        problems
            .iter()
            .any(|p| p.contains("GH1015") && p.contains("results[0]")),
        "{problems:#?}"
    );
}

// ------------------------------------------------------------------ Markdown

#[test]
fn markdown_has_the_verdict_the_table_and_the_findings() {
    let report = fixture::report();
    let md = markdown::render(&report);
    assert!(md.starts_with("# pushproof check: FAIL (exit 1)\n"), "{md}");
    assert!(md.contains("| Check | Verdict | Level | Severity | Summary |"));
    let rows: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("| Check |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(rows.len(), report.checks.len(), "{md}");
    assert!(rows[0].contains("**FAIL**"), "failures first: {rows:?}");
    assert!(
        rows.last().is_some_and(|r| r.contains("**PASS**")),
        "{rows:?}"
    );
    // Every row has its five cells: `|` and backticks in a summary are
    // escaped.
    for row in &rows {
        let cells = row.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 6, "{row}");
    }
    let http = rows.iter().find(|r| r.contains("SP-HTTP-01"));
    let http = http.expect("the HTTP-01 row");
    assert!(
        http.contains("\\`Cache-Control: max-age=60\\` \\| not no-store"),
        "{http}"
    );

    assert!(md.contains("base64url → gzip"), "the transform chain");
    assert!(md.contains(&format!("⟦{CANARY}⟧")), "the marked hit:\n{md}");
    assert!(
        md.contains("capabilities.logout"),
        "what enables a skipped check"
    );
    assert!(md.contains("## Stale expected failures") && md.contains("SP-ID-01 is PASS now"));
    assert!(md.contains("PUSH-123"), "the expected failure's reason");
    assert!(md.contains(
        "pushproof check --profile './scenarios/acme backend.toml' --backend-cmd 'java -jar acme.jar' --seed 12345678901234567890"
    ));
    // Hostile markup never reaches the page as markup.
    assert!(
        !md.contains("<script>") || fenced_only(&md, "<script>"),
        "{md}"
    );
    assert!(md.len() < markdown::SIZE_LIMIT);
}

/// Whether every occurrence of `needle` is inside a fenced code block.
fn fenced_only(md: &str, needle: &str) -> bool {
    let mut inside = false;
    for line in md.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            inside = !inside;
            continue;
        }
        if line.contains(needle) && !inside {
            return false;
        }
    }
    true
}

#[test]
fn markdown_stays_under_the_step_summary_limit_with_huge_evidence() {
    let mut report = fixture::report();
    let huge = "x".repeat(1024 * 1024) + CANARY + &"y".repeat(512 * 1024);
    let at = huge.find(CANARY).expect("present");
    for i in 0..20 {
        let mut c = fixture::check(
            &format!("SP-LEAK-{:02}", 10 + i),
            &"a long title ".repeat(50),
            Level::Must,
            Severity::Critical,
            Verdict::Fail,
        );
        c.summary = "s".repeat(100_000);
        c.evidence = (0..2)
            .map(|_| Evidence {
                what: "w".repeat(50_000),
                hits: vec![Hit {
                    surface: "body".to_owned(),
                    start: Some(at),
                    end: Some(at + CANARY.len()),
                    transforms: vec!["plain".to_owned(); 3],
                    secret: "s".to_owned(),
                    part: "whole".to_owned(),
                }],
                exchange: report.checks[5].evidence[0].exchange.clone().map(|mut x| {
                    if let Some(r) = x.response.as_mut() {
                        r.body = huge.clone();
                    }
                    x
                }),
                ..Evidence::default()
            })
            .collect();
        c.evidence_total = 2;
        report.checks.push(c);
    }
    let md = markdown::render(&report);
    assert!(md.len() < markdown::SIZE_LIMIT, "{} bytes", md.len());
    assert!(md.len() < 1024 * 1024);
    assert!(md.contains("| Check | Verdict |"), "the table survives");
    let rows = md
        .lines()
        .skip_while(|l| !l.starts_with("| Check |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .count();
    assert_eq!(rows, report.checks.len(), "every check keeps its row");
    assert!(md.contains("## Replay"), "the replay survives");
}

// ------------------------------------------------------------------ HTML

#[test]
fn html_escapes_hostile_evidence_and_fetches_nothing() {
    let report = fixture::report();
    let page = html::render(&report);
    assert!(page.starts_with("<!DOCTYPE html>"));
    // One script element: the page's own.
    assert_eq!(
        page.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(!page.contains(HOSTILE_SCRIPT));
    assert!(!page.contains(HOSTILE_IMG));
    assert!(!page.contains("<svg onload"));
    assert!(page.contains("&lt;script&gt;window.__pwned"));
    assert!(
        page.contains("\\u001b[31mred"),
        "control characters written out"
    );
    // Nothing to fetch: no external URLs in src, href or CSS.
    for needle in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "<link",
        "<iframe",
    ] {
        assert!(!page.contains(needle), "{needle} in the page");
    }
    let style = page
        .split("<style>")
        .nth(1)
        .and_then(|rest| rest.split("</style>").next())
        .expect("an inline stylesheet");
    assert!(
        !style.contains("url(") && !style.contains("@import"),
        "{style}"
    );
    assert!(page.contains("Content-Security-Policy"));
    assert!(
        page.contains(&format!("<mark>{CANARY}</mark>")),
        "the hit is marked"
    );
}

#[test]
fn chart_page_is_self_contained_svg() {
    let page = html::page(
        "pushproof load",
        &html::chart::over_time(
            "Throughput",
            "per second",
            vec![html::chart::Series::new(
                "verified",
                vec![(0.0, 1.0), (1.0, 2.0)],
            )],
        ),
    );
    assert!(page.contains("<svg") && page.contains("<polyline"));
    assert!(!page.contains("<script"));
}
