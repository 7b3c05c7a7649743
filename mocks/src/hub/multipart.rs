//! The `multipart/mixed` body of a `$batch` direct send: a `notification`
//! part (its own `Content-type` and the native payload) and a `devices`
//! part (a JSON array of at most 1000 handles) (REST reference, "Direct
//! batch send"). The boundary parameter is read as the JS SDK writes it,
//! `boundary = "…"`, as well as the plain `boundary=…`.

use bytes::Bytes;

use super::error::HubError;

/// Most handles one batch may name (REST reference, "Direct batch send").
pub(crate) const MAX_BATCH_HANDLES: usize = 1000;

/// A parsed batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) content_type: Option<String>,
    pub(crate) notification: Bytes,
    pub(crate) devices: Vec<String>,
}

fn malformed(why: &str) -> HubError {
    HubError::bad_request(format!(
        "The batch is not a valid multipart/mixed body: {why}."
    ))
}

/// The boundary of a `multipart/mixed` content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let (essence, params) = content_type.split_once(';')?;
    if !essence.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.split(';').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty() && value.len() <= 70).then(|| value.to_owned())
    })
}

/// Splits a batch body into its parts.
pub(crate) fn parse(content_type: &str, body: &Bytes) -> Result<Batch, HubError> {
    let boundary = boundary(content_type)
        .ok_or_else(|| malformed("the Content-Type has no multipart/mixed boundary"))?;
    let text = body.as_ref();
    let delimiter = format!("--{boundary}");
    let mut notification = None;
    let mut devices = None;
    let mut pieces = split(text, delimiter.as_bytes());
    // What precedes the first delimiter is the preamble.
    if pieces.next().is_none() {
        return Err(malformed("it has no parts"));
    }
    let mut closed = false;
    for piece in pieces {
        if piece.starts_with(b"--") {
            closed = true;
            break;
        }
        let piece = strip_crlf_start(piece);
        let (head, content) =
            split_head(piece).ok_or_else(|| malformed("a part has no header end"))?;
        let content = strip_crlf_end(content);
        let head =
            std::str::from_utf8(head).map_err(|_| malformed("a part's headers are not UTF-8"))?;
        let mut name = None;
        let mut part_type = None;
        for line in head.lines() {
            let Some((h, v)) = line.split_once(':') else {
                continue;
            };
            if h.trim().eq_ignore_ascii_case("content-disposition") {
                name = v.split(';').find_map(|p| {
                    let (k, val) = p.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("name")
                        .then(|| val.trim().trim_matches('"').to_owned())
                });
            } else if h.trim().eq_ignore_ascii_case("content-type") {
                part_type = Some(v.trim().to_owned());
            }
        }
        match name.as_deref() {
            Some("notification") => {
                notification = Some((part_type, body.slice_ref(content)));
            }
            Some("devices") => {
                let handles: Vec<String> = serde_json::from_slice(content)
                    .map_err(|_| malformed("the devices part is not a JSON array of strings"))?;
                devices = Some(handles);
            }
            _ => return Err(malformed("a part is neither notification nor devices")),
        }
    }
    if !closed {
        return Err(malformed("the closing delimiter is missing"));
    }
    let (content_type, notification) =
        notification.ok_or_else(|| malformed("the notification part is missing"))?;
    let devices = devices.ok_or_else(|| malformed("the devices part is missing"))?;
    if devices.is_empty() {
        return Err(malformed("the devices part names no handle"));
    }
    if devices.len() > MAX_BATCH_HANDLES {
        return Err(HubError::bad_request(format!(
            "A batch may name at most {MAX_BATCH_HANDLES} device handles; {} were given.",
            devices.len()
        )));
    }
    Ok(Batch {
        content_type,
        notification,
        devices,
    })
}

/// The pieces of `text` between occurrences of `delimiter`.
fn split<'a>(text: &'a [u8], delimiter: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match find(current, delimiter) {
            Some(at) => {
                rest = current.get(at + delimiter.len()..);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split_head(piece: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some(at) = find(piece, b"\r\n\r\n") {
        return Some((&piece[..at], &piece[at + 4..]));
    }
    find(piece, b"\n\n").map(|at| (&piece[..at], &piece[at + 2..]))
}

fn strip_crlf_start(piece: &[u8]) -> &[u8] {
    piece
        .strip_prefix(b"\r\n")
        .or_else(|| piece.strip_prefix(b"\n"))
        .unwrap_or(piece)
}

fn strip_crlf_end(piece: &[u8]) -> &[u8] {
    piece
        .strip_suffix(b"\r\n")
        .or_else(|| piece.strip_suffix(b"\n"))
        .unwrap_or(piece)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// As `@azure/notification-hubs` 2.1.0 writes a batch.
    const SDK_BATCH: &str = "--nh-boundary-1\r\nContent-type: application/octet-stream\r\nContent-Disposition: inline; name=notification\r\n\r\nraw\r\n--nh-boundary-1\r\nContent-type: application/json\r\nContent-Disposition: inline; name=devices\r\n\r\n[\"https://a/?token=1\",\"https://a/?token=2\"]\r\n--nh-boundary-1--";

    #[test]
    fn the_sdk_batch_parses() {
        let batch = parse(
            "multipart/mixed; boundary = \"nh-boundary-1\"",
            &Bytes::from_static(SDK_BATCH.as_bytes()),
        )
        .unwrap();
        assert_eq!(batch.notification.as_ref(), b"raw");
        assert_eq!(
            batch.content_type.as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(
            batch.devices,
            vec!["https://a/?token=1", "https://a/?token=2"]
        );
    }

    #[test]
    fn malformed_batches_are_400s() {
        let ct = "multipart/mixed; boundary=b";
        let too_many = format!(
            "--b\r\nContent-Disposition: inline; name=notification\r\n\r\n{{}}\r\n--b\r\nContent-Disposition: inline; name=devices\r\n\r\n{}\r\n--b--",
            serde_json::to_string(&vec!["h"; 1001]).unwrap()
        );
        for (ct, body) in [
            ("application/json", "{}".to_owned()),
            (ct, String::new()),
            (ct, "--b\r\nno header end".to_owned()),
            (ct, "--b\r\nContent-Disposition: inline; name=devices\r\n\r\n[1]\r\n--b--".to_owned()),
            (ct, "--b\r\nContent-Disposition: inline; name=notification\r\n\r\nx\r\n--b--".to_owned()),
            (ct, "--b\r\nContent-Disposition: inline; name=notification\r\n\r\nx\r\n--b\r\nContent-Disposition: inline; name=devices\r\n\r\n[\"h\"]".to_owned()),
            (ct, too_many),
            (ct, "--b".repeat(20_000)),
        ] {
            let e = parse(ct, &Bytes::from(body.clone())).unwrap_err();
            assert_eq!(e.status, http::StatusCode::BAD_REQUEST, "{body:.80}");
        }
    }
}
