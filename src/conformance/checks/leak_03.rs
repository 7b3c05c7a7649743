//! SP-LEAK-03: no encoded, compressed or hashed payload. The baseline's
//! pushes and hub requests are searched for every secret through the leak
//! scanner's transform closure: base64 (both alphabets, padded or not, at
//! every alignment), base32, hex, gzip, zlib and deflate, md5, sha1, sha256
//! and sha512, and chains of them. Encoded data is still the data (ASVS
//! 14.1.1 names base64); a sighting that needed only the carrier's own
//! escapes is SP-LEAK-01's or SP-LEAK-02's.

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::findings::Findings;
use super::super::pushes;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-LEAK-03",
    title: "No encoded, compressed or hashed payload",
    level: Level::Must,
    severity: Severity::Critical,
    method: "Every push and hub request of the baseline is searched, on every surface (path, \
             headers, body, JSON and XML strings), for every secret's canaries and whole text \
             through the transform closure: needles for hex, base32 and base64 (standard and \
             URL-safe, padded or not, every alignment) in one automaton; percent, JSON, XML, \
             base-N and gzip/zlib/deflate layers decoded up to three deep; md5, sha1, sha256 \
             and sha512 digests looked up in every binary layer (so two layers and more, e.g. \
             gzip → base64url, sha256 → hex). A sighting through any such transform is a \
             violation, with its chain. Needs an accepted push on every platform of the run",
    sources: &[
        "OWASP ASVS 5.0 14.1.1 (encoded data is still sensitive)",
        "OWASP ASVS 4.0.3 8.3.4",
        "Englehardt et al., PETS 2018 (LeakDetector transform closure)",
    ],
    needs: &[],
    sample: Sample {
        min: 1,
        unit: "pushes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let secrets = &suite.baseline.secrets;
    let coverage = pushes::scan_baseline(
        suite,
        secrets,
        |hit| !pushes::as_written(hit),
        "an encoded, compressed or hashed secret",
        &mut f,
    )
    .await;
    f.summary(coverage.summary(secrets.len(), "secrets", "encoded, compressed or hashed in pushes", |searched| {
        format!("no secret of {} in {searched} through any encoding, compression or hash the scanner knows", secrets.len())
    }));
    f
}
