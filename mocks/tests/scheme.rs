//! `:scheme: https:` on the wire: the header blocks Node.js's HTTP/2
//! client sends when a caller copies `URL.protocol` into `:scheme` (as
//! firebase-admin does), and the HPACK forms around them, written frame by
//! frame to the gateways; each must be served as `https`, and the header
//! table must stay in step for the requests after it. Other malformed
//! schemes are still refused, as RFC 9113 requires.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;

use pushproof_mocks::Platform;
use support::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// Huffman codings (RFC 7541 Appendix B), worked out by hand.
const HUFFMAN_HTTPS_COLON: &[u8] = &[0x9d, 0x29, 0xad, 0x17, 0x3f];
const HUFFMAN_HTTP_COLON: &[u8] = &[0x9d, 0x29, 0xae, 0xe7];
const HUFFMAN_SCHEME: &[u8] = &[0xb8, 0x82, 0x4e, 0x5a, 0x4b];

/// An HPACK string literal: raw, or octets already Huffman-coded.
fn raw(text: &str) -> Vec<u8> {
    let mut out = vec![u8::try_from(text.len()).unwrap()];
    out.extend_from_slice(text.as_bytes());
    out
}

fn huffman(octets: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | u8::try_from(octets.len()).unwrap()];
    out.extend_from_slice(octets);
    out
}

const SEND_PATH: &str = "/v1/projects/pushproof-test/messages:send";

/// The fields of a request but its `:scheme`: `POST`, the FCM send path
/// and `x-probe: {probe}`, the path and probe entered into the table.
fn rest_of_request(probe: &str) -> Vec<u8> {
    let mut block = vec![0x83]; // :method POST
    block.push(0x44); // :path, incremental indexing, static name 4
    block.extend(raw(SEND_PATH));
    block.push(0x41); // :authority
    block.extend(raw("localhost"));
    block.push(0x40); // x-probe, new name, incremental indexing
    block.extend(raw("x-probe"));
    block.extend(raw(probe));
    block
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A raw HTTP/2 client: frames in, what became of each stream out.
struct Wire {
    stream: TcpStream,
    read: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
enum Fate {
    Answered,
    Reset(u32),
}

impl Wire {
    async fn connect(addr: SocketAddr) -> Wire {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        stream.write_all(&hello).await.unwrap();
        Wire {
            stream,
            read: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads frames until stream `id` is answered (HEADERS) or reset.
    async fn fate(&mut self, id: u32) -> Fate {
        let read = async {
            loop {
                while self.read.len() >= 9 {
                    let len = usize::from(self.read[0]) << 16
                        | usize::from(self.read[1]) << 8
                        | usize::from(self.read[2]);
                    if self.read.len() < 9 + len {
                        break;
                    }
                    let frame: Vec<u8> = self.read.drain(..9 + len).collect();
                    let stream =
                        u32::from_be_bytes([frame[5], frame[6], frame[7], frame[8]]) & !(1 << 31);
                    match frame[3] {
                        GOAWAY => panic!("the server sent GOAWAY: {frame:?}"),
                        HEADERS if stream == id => return Fate::Answered,
                        RST_STREAM if stream == id => {
                            return Fate::Reset(u32::from_be_bytes([
                                frame[9], frame[10], frame[11], frame[12],
                            ]))
                        }
                        _ => {}
                    }
                }
                let mut chunk = [0u8; 4096];
                let n = self.stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the server closed the connection");
                self.read.extend_from_slice(&chunk[..n]);
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), read)
            .await
            .expect("an answer within 10 s")
    }
}

/// The FCM sends the gateway captured: `(path, x-probe)` of each, as h2
/// decoded them.
fn probes(h: &Harness) -> Vec<(String, Option<String>)> {
    h.gw.captures()
        .into_iter()
        .filter(|c| c.platform == Platform::Fcm)
        .map(|c| (c.path.clone(), c.header("x-probe").map(str::to_owned)))
        .collect()
}

fn sent(probe: &str) -> (String, Option<String>) {
    (SEND_PATH.to_owned(), Some(probe.to_owned()))
}

#[tokio::test]
async fn h2_takes_a_huffman_coded_scheme_with_a_trailing_colon_and_its_table_entry() {
    // What Node.js's nghttp2 encoder sends for `':scheme': 'https:'`: a
    // literal on static name 6, Huffman-coded, entered into the table;
    // then the indexed entry on the next request.
    let h = Harness::start().await;
    let mut wire = Wire::connect(h.gw.addr(Platform::Fcm)).await;
    let mut first = vec![0x46];
    first.extend(huffman(HUFFMAN_HTTPS_COLON));
    first.extend(rest_of_request("one"));
    wire.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &first))
        .await;
    assert_eq!(wire.fate(1).await, Fate::Answered);
    // The table, newest first: x-probe, :authority, :path, :scheme.
    let second = [0x83, 0xc1, 0xc0, 0xbf, 0xbe]; // 62 + 3, 62 + 2, …
    wire.send(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &second))
        .await;
    assert_eq!(wire.fate(3).await, Fate::Answered);
    let capture = h.gw.captures().pop().unwrap();
    assert_eq!(capture.status, 401, "answered as a send without a token");
    assert_eq!(probes(&h), [sent("one"), sent("one")]);
}

#[tokio::test]
async fn h2_takes_a_raw_scheme_with_a_trailing_colon_in_padded_prioritized_headers() {
    let h = Harness::start().await;
    let mut wire = Wire::connect(h.gw.addr(Platform::Fcm)).await;
    let mut block = vec![0x06]; // literal without indexing, static name 6
    block.extend(raw("https:"));
    block.extend(rest_of_request("padded"));
    let mut payload = vec![3]; // pad length
    payload.extend_from_slice(&[0, 0, 0, 0, 16]); // priority: depends on 0, weight 16
    payload.extend(block);
    payload.extend_from_slice(&[0, 0, 0]);
    let flags = END_HEADERS | END_STREAM | PADDED | PRIORITY;
    wire.send(&frame(HEADERS, flags, 1, &payload)).await;
    assert_eq!(wire.fate(1).await, Fate::Answered);
    // The table entries after the shortened field are still in place.
    let again = [0x83, 0x87, 0xc0, 0xbf, 0xbe];
    wire.send(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &again))
        .await;
    assert_eq!(wire.fate(3).await, Fate::Answered);
    assert_eq!(probes(&h), [sent("padded"), sent("padded")]);
}

#[tokio::test]
async fn h2_takes_a_scheme_split_across_continuation_frames() {
    let h = Harness::start().await;
    let mut wire = Wire::connect(h.gw.addr(Platform::Fcm)).await;
    let mut block = vec![0x46];
    block.extend(raw("https:"));
    block.extend(rest_of_request("split"));
    // The value `https:` starts at byte 2: split after `ht`, then again
    // in the middle of the path.
    let (a, rest) = block.split_at(4);
    let (b, c) = rest.split_at(10);
    let mut bytes = frame(HEADERS, END_STREAM, 1, a);
    bytes.extend(frame(CONTINUATION, 0, 1, b));
    bytes.extend(frame(CONTINUATION, END_HEADERS, 1, c));
    wire.send(&bytes).await;
    assert_eq!(wire.fate(1).await, Fate::Answered);
    let again = [0x83, 0xc1, 0xc0, 0xbf, 0xbe];
    wire.send(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &again))
        .await;
    assert_eq!(wire.fate(3).await, Fate::Answered);
    assert_eq!(probes(&h), [sent("split"), sent("split")]);
}

#[tokio::test]
async fn h2_takes_a_literal_scheme_name_and_a_dynamic_reference_to_it() {
    let h = Harness::start().await;
    let mut wire = Wire::connect(h.gw.addr(Platform::Fcm)).await;
    // A literal name `:scheme` (Huffman-coded), value `http:`, entered.
    let mut first = vec![0x40];
    first.extend(huffman(HUFFMAN_SCHEME));
    first.extend(huffman(HUFFMAN_HTTP_COLON));
    first.extend(rest_of_request("named"));
    wire.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &first))
        .await;
    assert_eq!(wire.fate(1).await, Fate::Answered);
    // The entry's name (62 + 3), with a new malformed value, not entered.
    let mut second = vec![0x0f, 65 - 15]; // literal without indexing, index 65
    second.extend(raw("https:"));
    second.extend_from_slice(&[0x83, 0xc0, 0xbf, 0xbe]);
    wire.send(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &second))
        .await;
    assert_eq!(wire.fate(3).await, Fate::Answered);
    assert_eq!(probes(&h), [sent("named"), sent("named")]);
}

#[tokio::test]
async fn apns_takes_a_scheme_with_a_trailing_colon_too() {
    // The APNs listener's connections are filtered by the same layer,
    // under its stream-limit frames.
    let h = Harness::start().await;
    let mut wire = Wire::connect(h.gw.addr(Platform::Apns)).await;
    let mut block = vec![0x83, 0x46];
    block.extend(huffman(HUFFMAN_HTTPS_COLON));
    block.push(0x04);
    block.extend(raw("/3/device/00"));
    wire.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block))
        .await;
    assert_eq!(wire.fate(1).await, Fate::Answered);
}

#[tokio::test]
async fn h2_still_refuses_other_malformed_schemes() {
    // RFC 9113 §8.3.1: a malformed :scheme makes the request malformed;
    // only the trailing colon some clients add is taken.
    let h = Harness::start().await;
    let mut wire = Wire::connect(h.gw.addr(Platform::Fcm)).await;
    let mut block = vec![0x06];
    block.extend(raw("ht tp"));
    block.extend(rest_of_request("bad"));
    wire.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block))
        .await;
    assert_eq!(wire.fate(1).await, Fate::Reset(0x1), "PROTOCOL_ERROR");
}
