//! The conformance gate in-process: the embedded reference backend passes,
//! each deliberate flaw fails exactly its checks, the verdict rules hold
//! (ERROR on a short sample, never PASS or SKIP), selection and expected
//! failures work, and a backend already running is tested over the mocks'
//! control API.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use pushproof::conformance::Verdict;
use pushproof::report::expected::ExpectedFailures;
use pushproof::target::{Delivery, TargetSpec};
use pushproof_backend::Flaw;
use pushproof_mocks::{CaptureKind, GatewayConfig, Gateways, TlsSettings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_reference_backend_passes_and_the_report_says_how_it_was_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let finished = support::run(&support::plan(vec![], dir.path())).await;
    let report = &finished.report;
    support::assert_sound(report);
    let http02 = support::record(report, "SP-HTTP-02");
    assert!(http02.summary.contains("loopback"), "{}", http02.summary);
    assert!(http02
        .skip
        .as_ref()
        .and_then(|s| s.enable.as_ref())
        .is_some());
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(finished.index.as_ref().expect("index")).expect("index.json"),
    )
    .expect("JSON");
    assert_eq!(index["run"]["seed_text"], "42");
    assert_eq!(index["run"]["tls"], false);
    assert_eq!(index["target"]["kind"], "embedded");
    assert!(index["run"]["timeout_s"].as_f64().is_some());
    assert!(index["run"]["concurrency"].as_u64().is_some());
    assert_eq!(
        index["checks"].as_array().map(Vec::len),
        Some(pushproof::conformance::catalogue::ALL.len())
    );
    let authz = support::record(report, "SP-AUTHZ-03");
    let sample = authz.sample.as_ref().expect("a sample");
    assert!(sample.gathered >= sample.required, "{sample:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_flaw_fails_exactly_its_checks_with_evidence_that_names_things() {
    let cases = [
        // On WNS the raw push is the id, so a payload in it also breaks
        // the device's round trip (SP-FLOW-01); the alert and the keys it
        // adds are no secure-push shape (SP-LEAK-06, 07).
        (
            Flaw::LeakPayload,
            &["SP-FLOW-01", "SP-LEAK-01", "SP-LEAK-06", "SP-LEAK-07"][..],
        ),
        // Without any recipient check, no spelling of an id and no tenant
        // is refused either.
        // Serving another user's notification also tells it apart from an
        // unknown id, with no need of timing.
        (
            Flaw::NoAuthz,
            &[
                "SP-AUTHZ-03",
                "SP-AUTHZ-04",
                "SP-AUTHZ-05",
                "SP-ENUM-01",
                "SP-ENUM-02",
            ][..],
        ),
        // The logged-out token also reads again what it read before.
        (Flaw::LogoutKeepsToken, &["SP-AUTHZ-06", "SP-TOK-02"][..]),
        // A fetch with its token only in the query has no header either.
        (Flaw::AnonymousFetch, &["SP-AUTHZ-01", "SP-TOK-04"][..]),
        (Flaw::TokenPrefixMatch, &["SP-AUTHZ-02"][..]),
        (Flaw::BolaCaseVariant, &["SP-AUTHZ-04"][..]),
        (Flaw::CrossTenantFetch, &["SP-AUTHZ-05"][..]),
        (Flaw::CachedAuthz, &["SP-AUTHZ-06"][..]),
        (Flaw::VerboseFetch, &["SP-AUTHZ-07"][..]),
        (Flaw::IgnoreExpiry, &["SP-TOK-01"][..]),
        // The disabled account's token also reads again what it read before.
        (Flaw::DisabledStillValid, &["SP-AUTHZ-06", "SP-TOK-03"][..]),
        (Flaw::TokenInQuery, &["SP-TOK-04"][..]),
        (Flaw::RefreshAsAccess, &["SP-TOK-05"][..]),
        (Flaw::NoCharset, &["SP-HTTP-04"][..]),
        // Flaws that add a key to the push also make SP-LEAK-07 warn.
        // The message's bytes in a header: a crafted message shapes it.
        (Flaw::LeakCollapseId, &["SP-LEAK-02", "SP-REG-03"][..]),
        (Flaw::LeakEncoded, &["SP-LEAK-03", "SP-LEAK-07"][..]),
        (Flaw::LeakPreview, &["SP-LEAK-04", "SP-LEAK-07"][..]),
        (Flaw::SizeTracksPayload, &["SP-LEAK-05", "SP-LEAK-07"][..]),
        (Flaw::VisibleAlert, &["SP-LEAK-06", "SP-LEAK-07"][..]),
        (Flaw::ExtraPushKeys, &["SP-LEAK-07"][..]),
        (Flaw::ThreadBySender, &["SP-LEAK-07", "SP-LEAK-08"][..]),
        (Flaw::LeakToken, &["SP-LEAK-07", "SP-LEAK-09"][..]),
        (Flaw::SequentialIds, &["SP-ID-01"][..]),
        (Flaw::ReusedIds, &["SP-ID-02"][..]),
        // The id starts with a hash of the message: found as one too.
        (Flaw::ContentIds, &["SP-LEAK-03", "SP-ID-03"][..]),
        (Flaw::EchoInErrors, &["SP-OBS-02"][..]),
        (Flaw::ForbiddenOracle, &["SP-ENUM-01"][..]),
        (Flaw::TimingOracle, &["SP-ENUM-02"][..]),
        (Flaw::NoFetchThrottle, &["SP-ENUM-03"][..]),
        (Flaw::FragileIds, &["SP-ENUM-04"][..]),
        (Flaw::NoPayloadTtl, &["SP-LIFE-01"][..]),
        (Flaw::SoftDelete, &["SP-LIFE-02"][..]),
        (Flaw::AnyAck, &["SP-LIFE-03"][..]),
        (Flaw::LongPushTtl, &["SP-LIFE-04"][..]),
        (Flaw::TrustClientTags, &["SP-REG-01"][..]),
        (Flaw::AnyRegistration, &["SP-REG-02"][..]),
        (Flaw::TagExpressionInjection, &["SP-REG-03"][..]),
        (Flaw::LogoutKeepsRegistrations, &["SP-REG-04"][..]),
        (Flaw::KeepsDeadHandles, &["SP-OBS-04"][..]),
        (Flaw::IgnoresRetryAfter, &["SP-OBS-04"][..]),
        (Flaw::RicherFallback, &["SP-OBS-04"][..]),
    ];
    for (flaw, expected) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let finished = support::run(&support::plan(vec![flaw], dir.path())).await;
        let report = &finished.report;
        // Exactly these checks are broken, each at its level (a MUST
        // FAILs, a SHOULD WARNs, an INFO says INFO); every other passes.
        assert_eq!(
            support::broken(report),
            support::ids(expected),
            "{flaw}: {:#?}",
            report
                .checks
                .iter()
                .map(|c| (&c.id, c.verdict, &c.summary))
                .collect::<Vec<_>>()
        );
        for id in expected {
            let record = support::record(report, id);
            assert_eq!(
                record.verdict,
                pushproof::conformance::findings::broken(record.level),
                "{flaw}: {id}: {}",
                record.summary
            );
        }
        assert!(
            support::with(report, Verdict::Error).is_empty(),
            "{flaw}: {:#?}",
            report.checks
        );
        let fails = expected
            .iter()
            .any(|id| support::verdict(report, id) == Verdict::Fail);
        assert_eq!(report.exit_code, i32::from(fails), "{flaw}");
        for id in expected {
            let record = support::record(report, id);
            let file = record.evidence_file.as_ref().expect("an evidence file");
            let evidence: serde_json::Value = serde_json::from_slice(
                &std::fs::read(finished.dir.join(file)).expect("evidence file"),
            )
            .expect("JSON");
            let first = &evidence["evidence"][0];
            assert!(
                first["subject"]["device"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("device-")),
                "{id}: {first}"
            );
            assert!(
                first["subject"]["handle"].as_str().is_some(),
                "{id}: {first}"
            );
            assert!(
                first.get("exchange").is_some() || first.get("capture").is_some(),
                "{id}: evidence without the exchange or the push: {first}"
            );
        }
    }
}

/// A flaw that breaks a SHOULD makes exactly its checks WARN (and no
/// FAIL): the gate passes, `--strict` would not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_should_flaw_warns_exactly_its_checks() {
    let cases = [(Flaw::CacheableFetch, &["SP-HTTP-01"][..])];
    for (flaw, expected) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let finished = support::run(&support::plan(vec![flaw], dir.path())).await;
        let report = &finished.report;
        assert_eq!(
            support::with(report, Verdict::Warn),
            support::ids(expected),
            "{flaw}"
        );
        assert!(
            support::with(report, Verdict::Fail).is_empty()
                && support::with(report, Verdict::Error).is_empty(),
            "{flaw}: {:#?}",
            report.checks
        );
        assert_eq!(report.exit_code, 0);
        for id in expected {
            let record = support::record(report, id);
            let first = &record.evidence[0];
            assert!(
                first.subject.is_some() && first.exchange.is_some(),
                "{id}: {first:?}"
            );
        }
    }
}

/// SP-HTTP-03 needs TLS: the sound backend refuses the impostor gateways,
/// its flaw pushes through them, and nothing else changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_tls_mode_gateway_certificates_are_checked_and_their_flaw_fails_only_sp_http_03() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = support::plan(vec![], dir.path());
    plan.tls = Some(TlsSettings::default());
    let report = support::run(&plan).await.report;
    support::assert_sound(&report);
    assert_eq!(support::verdict(&report, "SP-HTTP-03"), Verdict::Pass);

    let mut plan = support::plan(vec![Flaw::InsecureGatewayTls], dir.path());
    plan.tls = Some(TlsSettings::default());
    let report = support::run(&plan).await.report;
    assert_eq!(
        support::with(&report, Verdict::Fail),
        support::ids(&["SP-HTTP-03"]),
        "{:#?}",
        report.checks
    );
    let first = &support::record(&report, "SP-HTTP-03").evidence[0];
    assert!(
        first.subject.as_ref().is_some_and(|s| s.platform == "wns"),
        "{first:?}"
    );
    assert!(first.exchange.is_some(), "{first:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_device_is_too_small_a_sample_an_error_not_a_skip_or_a_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = support::plan(vec![], dir.path());
    plan.devices = 1;
    let report = support::run(&plan).await.report;
    let authz = support::record(&report, "SP-AUTHZ-03");
    assert_eq!(authz.verdict, Verdict::Error, "{}", authz.summary);
    assert!(
        authz.summary.contains("gathered 0 of the 6 probes"),
        "{}",
        authz.summary
    );
    assert_eq!(report.exit_code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_and_skip_select_checks_and_say_why_the_others_did_not_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = support::plan(vec![Flaw::NoAuthz], dir.path());
    plan.selection.only = vec!["SP-AUTHZ-*".into(), "SP-FLOW-01".into()];
    // no-authz also breaks the BOLA variants and the tenant scope.
    plan.selection.skip = vec![
        "sp-authz-03".into(),
        "SP-AUTHZ-04".into(),
        "sp-authz-05".into(),
    ];
    let report = support::run(&plan).await.report;
    assert_eq!(
        support::with(&report, Verdict::Pass),
        support::ids(&[
            "SP-AUTHZ-01",
            "SP-AUTHZ-02",
            "SP-AUTHZ-06",
            "SP-AUTHZ-07",
            "SP-FLOW-01"
        ])
    );
    let skipped = support::record(&report, "SP-AUTHZ-03");
    assert_eq!(skipped.verdict, Verdict::Skip);
    assert!(skipped.summary.contains("--skip"), "{}", skipped.summary);
    assert!(support::record(&report, "SP-LEAK-01")
        .summary
        .contains("--only"));
    assert_eq!(report.exit_code, 0, "the flawed check was left out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_failures_excuse_a_failing_check_and_stale_entries_are_reported() {
    let ids: Vec<&str> = pushproof::conformance::catalogue::ALL
        .iter()
        .map(|c| c.id)
        .collect();
    let expected = ExpectedFailures::parse(
        "expected.toml",
        "[[expected]]\nid = \"SP-AUTHZ-03\"\nreason = \"BOLA, fix in PROJ-1\"\n",
        &ids,
    )
    .expect("valid");

    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = support::plan(vec![Flaw::NoAuthz], dir.path());
    plan.expected = expected.clone();
    // The other checks no-authz breaks are left out: only AUTHZ-03 is
    // excused here.
    plan.selection.skip = vec![
        "SP-AUTHZ-04".into(),
        "SP-AUTHZ-05".into(),
        "SP-ENUM-*".into(),
    ];
    let report = support::run(&plan).await.report;
    let authz = support::record(&report, "SP-AUTHZ-03");
    assert_eq!(authz.verdict, Verdict::Fail, "the verdict stays");
    assert_eq!(
        authz.expected_failure.as_deref(),
        Some("BOLA, fix in PROJ-1")
    );
    assert_eq!(report.exit_code, 0);
    assert!(report.stale_expected_failures.is_empty());

    let mut plan = support::plan(vec![], dir.path());
    plan.expected = expected;
    let report = support::run(&plan).await.report;
    assert_eq!(report.stale_expected_failures.len(), 1);
    assert_eq!(report.stale_expected_failures[0].id, "SP-AUTHZ-03");
    assert_eq!(report.stale_expected_failures[0].verdict, Verdict::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_in_the_same_second_with_the_same_seed_get_different_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = support::plan(vec![], dir.path());
    let (a, b) = tokio::join!(support::run(&plan), support::run(&plan));
    assert_ne!(a.report.run.id, b.report.run.id);
    assert_ne!(a.dir, b.dir, "one report never overwrites the other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_backend_is_tested_over_the_remote_mocks_control_api() {
    for delivery in [Delivery::Direct, Delivery::Hub] {
        a_running_backend_passes_over_remote_mocks(delivery).await;
    }
}

/// The mocks and the reference backend as a vendor would run them side by
/// side (given the gateways' variables, or in hub mode the hub's); the
/// harness reaches the gateways only over the control API.
async fn a_running_backend_passes_over_remote_mocks(delivery: Delivery) {
    let gateways = Arc::new(
        Gateways::start(GatewayConfig::default())
            .await
            .expect("gateways"),
    );
    let keys = tempfile::tempdir().expect("tempdir");
    let vars = gateways
        .write_credentials(keys.path())
        .expect("credentials")
        .vars;
    let env: HashMap<String, String> = delivery
        .contract(&vars)
        .expect("the contract")
        .into_iter()
        .collect();
    let config =
        pushproof_backend::Config::from_vars(keys.path().join("b.db"), |n| env.get(n).cloned())
            .expect("backend config");
    assert_eq!(config.hub.is_some(), delivery == Delivery::Hub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let backend = tokio::spawn(pushproof_backend::serve(listener, config, async {
        let _ = stopped.await;
    }));

    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = support::plan(vec![], dir.path());
    plan.target = TargetSpec::Url {
        url: origin.clone(),
        ready_path: "/".into(),
    };
    plan.mocks_url = Some(gateways.fcm_url());
    let report = support::run(&plan).await.report;
    support::assert_sound(&report);
    assert_eq!(report.target.kind, "url");
    assert_eq!(report.target.origin, origin);
    assert_eq!(report.run.delivery, None, "as the backend was started");
    let captures = gateways.captures();
    assert!(
        captures.iter().any(|c| c.kind == CaptureKind::Push),
        "the pushes went through these gateways"
    );
    // Hub captures came over the control API too, and were scanned.
    let to_hub = captures.iter().any(|c| c.kind == CaptureKind::Hub);
    assert_eq!(to_hub, delivery == Delivery::Hub, "{delivery:?}");
    let leak = support::record(&report, "SP-LEAK-01");
    assert_eq!(
        leak.summary.contains("requests to the hub"),
        to_hub,
        "{}",
        leak.summary
    );
    let _ = stop.send(());
    backend
        .await
        .expect("backend task")
        .expect("backend stopped cleanly");
}
