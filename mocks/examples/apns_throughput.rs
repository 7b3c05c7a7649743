//! Throughput probe for mock APNs over h2c: the gateways run on one
//! current-thread runtime (one core), a hyper client on another thread
//! sends pushes over a few connections with many streams in flight, and the
//! accepted-push rate is printed. Run it in release:
//!
//! `cargo run --release -p pushproof-mocks --example apns_throughput -- 400000`

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pushproof_mocks::{GatewayConfig, Gateways, Platform};

const CONNECTIONS: usize = 4;
const STREAMS_PER_CONNECTION: usize = 64;
const PAYLOAD: &[u8] = br#"{"aps":{"content-available":1},"secureId":"1234"}"#;

fn main() {
    let total: usize = std::env::args().nth(1).map_or(200_000, |a| {
        a.parse().expect("the argument is a push count")
    });
    // The gateways get a thread (and so a core) of their own.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("gateways".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the gateways");
            runtime.block_on(async move {
                let gateways = Gateways::start(GatewayConfig::default())
                    .await
                    .expect("the gateways start");
                tx.send(gateways)
                    .expect("main thread waits for the gateways");
                std::future::pending::<()>().await;
            });
        })
        .expect("a thread for the gateways");
    let gateways = rx.recv().expect("the gateways thread sends the gateways");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the client");
    runtime.block_on(drive(gateways, total));
}

fn provider_token(gateways: &Gateways) -> String {
    let dir = std::env::temp_dir().join(format!("pushproof-probe-{}", std::process::id()));
    let env = gateways
        .write_credentials(&dir)
        .expect("credentials are written");
    let key_file = env
        .get("PUSHPROOF_APNS_KEY_FILE")
        .expect("the contract names the key file");
    let pem = std::fs::read(key_file).expect("the key file is readable");
    let _ = std::fs::remove_dir_all(&dir);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(gateways.config().apns_key_id.clone());
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = serde_json::json!({ "iss": gateways.config().apns_team_id, "iat": iat });
    let key = EncodingKey::from_ec_pem(&pem).expect("the .p8 is a PKCS#8 P-256 key");
    jsonwebtoken::encode(&header, &claims, &key).expect("signing works")
}

async fn drive(gateways: Gateways, total: usize) {
    let authorization = format!("bearer {}", provider_token(&gateways));
    let devices: Vec<_> = (0..100)
        .map(|_| gateways.register_device(Platform::Apns))
        .collect();
    let per_stream = total / CONNECTIONS / STREAMS_PER_CONNECTION;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let stream = tokio::net::TcpStream::connect(gateways.addr(Platform::Apns))
            .await
            .expect("APNs accepts");
        stream.set_nodelay(true).expect("nodelay can be set");
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .expect("the h2 handshake succeeds");
        tokio::spawn(conn);
        for n in 0..STREAMS_PER_CONNECTION {
            let mut sender = sender.clone();
            let url = format!(
                "{}/3/device/{}",
                gateways.apns_url(),
                devices[n % devices.len()].handle
            );
            let authorization = authorization.clone();
            tasks.push(tokio::spawn(async move {
                let mut accepted = 0usize;
                for _ in 0..per_stream {
                    let request = http::Request::post(&url)
                        .header("authorization", &authorization)
                        .header("apns-topic", "com.example.pushproof")
                        .header("apns-push-type", "background")
                        .header("apns-priority", "5")
                        .body(Full::new(Bytes::from_static(PAYLOAD)))
                        .expect("the request is well-formed");
                    if sender.ready().await.is_err() {
                        break;
                    }
                    match sender.send_request(request).await {
                        Ok(response) if response.status() == 200 => accepted += 1,
                        _ => {}
                    }
                }
                accepted
            }));
        }
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.unwrap_or(0);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{accepted} pushes accepted in {secs:.2} s = {:.0}/s; captures {:?}",
        accepted as f64 / secs,
        gateways.capture_stats()
    );
}
