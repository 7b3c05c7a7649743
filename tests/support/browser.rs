//! A real headless browser for the HTML report tests: Debian's
//! `chromium`, driven over the DevTools protocol on a loopback websocket.
//!
//! [`Browser::launch`] starts Chromium with a fresh profile and
//! `--remote-debugging-port=0`, reads the websocket address it prints,
//! opens one page and enables the page, network, log and runtime domains.
//! [`Browser::open`] navigates and waits for the load event;
//! [`Browser::eval`] runs an expression in the page and returns its JSON
//! value. Every request the page makes and every console or log entry is
//! recorded, so a test can assert that a page fetched nothing and that no
//! Content Security Policy violation happened. Each wait is bounded by
//! [`TIMEOUT`]; the browser is killed on drop.
//!
//! The browser is `$CHROMIUM` when set, else `/usr/bin/chromium`, else
//! `chromium` on `PATH`. Missing, the test fails and says how to install
//! it: skipping would let a broken report pass unnoticed.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// Bounds every wait: start-up, a navigation, one call.
pub const TIMEOUT: Duration = Duration::from_secs(60);

pub const INSTALL_HINT: &str = "the HTML report tests read the page in a real headless browser: \
     install Debian's Chromium (`apt-get install -y chromium`, as `.ci/run` does), or point \
     $CHROMIUM at a Chromium or Chrome binary";

/// Chromium's flags for a quiet, isolated, loopback-only run.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
];

pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    loaded: bool,
    /// URLs of every request the page started.
    pub requests: Vec<String>,
    /// Console messages, log entries and uncaught exceptions, as text.
    pub messages: Vec<String>,
    _profile: tempfile::TempDir,
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    let debian = Path::new("/usr/bin/chromium");
    if debian.exists() {
        debian.to_path_buf()
    } else {
        PathBuf::from("chromium")
    }
}

impl Browser {
    pub fn launch() -> Browser {
        let profile = tempfile::tempdir().expect("a temporary profile directory");
        let program = binary();
        let mut child = Command::new(&program)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    panic!("`{}` not found: {INSTALL_HINT}", program.display())
                }
                _ => panic!("starting {}: {e}", program.display()),
            });

        // Chromium prints its websocket address on stderr; the thread keeps
        // draining stderr afterwards so that the pipe never fills.
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("ws://") {
                    let _ = tx.send(Ok(line[at..].trim().to_owned()));
                } else {
                    let _ = tx.send(Err(line));
                }
            }
        });
        let deadline = Instant::now() + TIMEOUT;
        let mut output = Vec::new();
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Ok(url)) => break url,
                Ok(Err(line)) => output.push(line),
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "{} printed no DevTools address within {TIMEOUT:?}:\n{}",
                        program.display(),
                        output.join("\n")
                    );
                }
            }
        };

        let authority = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("ws://host:port/…")
            .to_owned();
        let stream = TcpStream::connect(&authority).expect("connect to DevTools on loopback");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("a read timeout");
        let (ws, _) = tungstenite::client(url.as_str(), stream).expect("the DevTools handshake");
        let mut browser = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 0,
            loaded: false,
            requests: Vec::new(),
            messages: Vec::new(),
            _profile: profile,
        };
        let target = browser.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("a target id").to_owned();
        let attached = browser.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        for domain in ["Page", "Network", "Log", "Runtime"] {
            browser.page_call(&format!("{domain}.enable"), json!({}));
        }
        browser
    }

    /// Navigates to `url` and waits for its load event.
    pub fn open(&mut self, url: &str) {
        self.loaded = false;
        let answer = self.page_call("Page.navigate", json!({"url": url}));
        assert!(
            answer.get("errorText").is_none(),
            "navigating to {url}: {answer}"
        );
        let deadline = Instant::now() + TIMEOUT;
        while !self.loaded {
            assert!(
                Instant::now() < deadline,
                "{url} did not load within {TIMEOUT:?}"
            );
            self.read_one();
        }
    }

    /// The JSON value of `expression` evaluated in the page (promises
    /// awaited); an exception fails the test.
    pub fn eval(&mut self, expression: &str) -> Value {
        let answer = self.page_call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(details) = answer.get("exceptionDetails") {
            panic!("evaluating {expression}: {details}");
        }
        answer["result"]["value"].clone()
    }

    fn page_call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params)
    }

    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = Value::from(session);
        }
        self.ws
            .send(Message::text(message.to_string()))
            .unwrap_or_else(|e| panic!("sending {method}: {e}"));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            assert!(
                Instant::now() < deadline,
                "{method} got no answer within {TIMEOUT:?}"
            );
            if let Some(answer) = self.read_one() {
                if answer["id"] == id {
                    if let Some(error) = answer.get("error") {
                        panic!("{method}: {error}");
                    }
                    return answer["result"].clone();
                }
            }
        }
    }

    /// Reads one message; records events and returns answers to calls.
    fn read_one(&mut self) -> Option<Value> {
        let message = self
            .ws
            .read()
            .unwrap_or_else(|e| panic!("reading from DevTools: {e}"));
        let Message::Text(text) = message else {
            return None;
        };
        let value: Value = serde_json::from_str(text.as_str()).expect("DevTools sends JSON");
        if value.get("id").is_some() {
            return Some(value);
        }
        let params = &value["params"];
        match value["method"].as_str().unwrap_or_default() {
            "Page.loadEventFired" => self.loaded = true,
            "Network.requestWillBeSent" => self.requests.push(
                params["request"]["url"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ),
            "Log.entryAdded" => self.messages.push(format!(
                "log {}: {}",
                params["entry"]["level"], params["entry"]["text"]
            )),
            "Runtime.consoleAPICalled" => self
                .messages
                .push(format!("console {}: {}", params["type"], params["args"])),
            "Runtime.exceptionThrown" => self
                .messages
                .push(format!("exception: {}", params["exceptionDetails"])),
            _ => {}
        }
        None
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `file://` URL for a local path.
pub fn file_url(path: &Path) -> String {
    let absolute = path.canonicalize().expect("the file exists");
    let mut url = String::from("file://");
    for b in absolute.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}
