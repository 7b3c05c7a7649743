//! The main job end to end, in-process: gateways, reference backend and a
//! fleet across the three platforms; sound, and with each deliberate flaw.

mod support;

use pushproof::conformance::Verdict;
use pushproof_backend::Flaw;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sound_backend_passes_every_check_and_verifies_every_device() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = support::run(30, vec![], dir.path()).await;
    support::assert_every_check_passes(&report);
    assert_eq!(report.counts.verified, 30);
    assert_eq!(report.counts.pushed, 30, "one accepted push per device");
    assert_eq!(report.exit_code, 0);
    let on_disk: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join(&report.run.id).join("report.json")).expect("report.json"),
    )
    .expect("valid JSON");
    assert_eq!(on_disk["verdict"], "PASS");
    assert_eq!(
        on_disk["checks"].as_array().map(Vec::len),
        Some(report.checks.len())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leak_payload_flaw_fails_sp_leak_01() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = support::run(12, vec![Flaw::LeakPayload], dir.path()).await;
    let leak = support::check(&report, "SP-LEAK-01");
    assert_eq!(leak.verdict, Verdict::Fail, "{}", leak.summary);
    assert!(!leak.evidence.is_empty());
    // The flaw leaks; it does not break authorization.
    assert_eq!(support::verdict(&report, "SP-AUTHZ-03"), Verdict::Pass);
    assert_eq!(report.exit_code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_authz_flaw_fails_sp_authz_03() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = support::run(12, vec![Flaw::NoAuthz], dir.path()).await;
    let authz = support::check(&report, "SP-AUTHZ-03");
    assert_eq!(authz.verdict, Verdict::Fail, "{}", authz.summary);
    assert_eq!(support::verdict(&report, "SP-LEAK-01"), Verdict::Pass);
    // Credentials are still required, so SP-AUTHZ-01 holds.
    assert_eq!(support::verdict(&report, "SP-AUTHZ-01"), Verdict::Pass);
    assert_eq!(report.exit_code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sound_backend_passes_over_tls_gateways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = support::plan(12, vec![], dir.path());
    plan.tls = Some(pushproof_mocks::TlsSettings::default());
    let report = support::run_plan(&plan).await;
    support::assert_every_check_passes(&report);
    assert_eq!(report.counts.verified, 12);
}
