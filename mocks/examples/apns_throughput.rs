//! temporary throughput probe
#![allow(clippy::unwrap_used)]
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pushproof_mocks::{GatewayConfig, Gateways, Platform};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let gw = Gateways::start(GatewayConfig::default()).await.unwrap();
    let dir = std::env::temp_dir().join("pp-probe");
    let env = gw.write_credentials(&dir).unwrap();
    let pem = std::fs::read(env.get("PUSHPROOF_APNS_KEY_FILE").unwrap()).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(gw.config().apns_key_id.clone());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let jwt = jsonwebtoken::encode(&header, &serde_json::json!({"iss": gw.config().apns_team_id, "iat": now}), &EncodingKey::from_ec_pem(&pem).unwrap()).unwrap();
    let devices: Vec<_> = (0..100).map(|_| gw.register_device(Platform::Apns)).collect();
    let total: usize = std::env::args().nth(1).map_or(200_000, |a| a.parse().unwrap());
    let conns = 4;
    let per_conn_tasks = 64;
    let per_task = total / conns / per_conn_tasks;
    let start = std::time::Instant::now();
    let mut handles = Vec::new();
    for _ in 0..conns {
        let stream = tokio::net::TcpStream::connect(gw.addr(Platform::Apns)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new()).handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(conn);
        for t in 0..per_conn_tasks {
            let mut sender = sender.clone();
            let url = format!("{}/3/device/{}", gw.apns_url(), devices[t % devices.len()].handle);
            let auth = format!("bearer {jwt}");
            handles.push(tokio::spawn(async move {
                let mut ok = 0;
                for _ in 0..per_task {
                    let req = http::Request::post(&url)
                        .header("authorization", &auth)
                        .header("apns-topic", "com.example.pushproof")
                        .header("apns-push-type", "alert")
                        .body(Full::new(Bytes::from_static(br#"{"aps":{"alert":"hi"},"secureId":"1234"}"#)))
                        .unwrap();
                    sender.ready().await.unwrap();
                    let resp = sender.send_request(req).await.unwrap();
                    if resp.status() == 200 { ok += 1; }
                }
                ok
            }));
        }
    }
    let mut ok = 0;
    for h in handles { ok += h.await.unwrap(); }
    let secs = start.elapsed().as_secs_f64();
    println!("{ok} ok in {secs:.2}s = {:.0}/s; stats {:?}", ok as f64 / secs, gw.capture_stats());
}
