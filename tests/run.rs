//! The main job end to end, in-process: gateways, reference backend and a
//! fleet across the three platforms; sound, and over TLS gateways.

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_thirty_verifies_every_device_with_one_accepted_push_each() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = support::plan(vec![], dir.path());
    plan.devices = 30;
    plan.selection.only = vec!["SP-FLOW-01".into(), "SP-LEAK-01".into()];
    let finished = support::run(&plan).await;
    support::assert_sound_or_selected(&finished.report);
    assert_eq!(finished.measured.counts.verified, 30);
    assert_eq!(finished.measured.counts.enrolled, 30);
    assert_eq!(
        finished.measured.counts.pushed, 30,
        "one accepted push per device"
    );
    assert!(finished.measured.stages.end_to_end.count() == 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sound_backend_passes_over_tls_gateways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = support::plan(vec![], dir.path());
    plan.tls = Some(pushproof_mocks::TlsSettings::default());
    let finished = support::run(&plan).await;
    support::assert_sound(&finished.report);
    assert!(finished.report.run.tls, "the report says it was a TLS run");
}
