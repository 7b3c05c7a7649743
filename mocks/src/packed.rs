//! Request text (a path, header names and values) copied into one buffer of
//! its own, for what outlives a request (captures, inbox deliveries).
//!
//! Why not keep hyper's `HeaderValue`s: they are slices of the connection's
//! read buffer, and while any is alive hyper cannot reuse that buffer, so
//! every read allocates afresh (and the kept requests pin whole buffers).
//! Why not a `String` per name and value: two allocations per header to
//! make and to free. This is one allocation, whatever the count: kept
//! requests are many and long-lived, so each allocation is memory the cache
//! has long forgotten, and the fewer touched per request the better.

use std::borrow::Cow;

#[cfg(test)]
use http::HeaderValue;

/// Bytes that frame one header: the name's and the value's lengths.
const FRAME: usize = 8;

/// A prefix (the path, or nothing) and headers, packed.
#[derive(Debug, Default)]
pub(crate) struct Packed {
    /// The prefix, then per header the name's and the value's lengths (u32,
    /// little-endian), the name and the value.
    buf: Box<[u8]>,
    prefix_len: usize,
}

impl Packed {
    /// Packs `prefix` and the (name, value) pairs `headers()` yields, in
    /// order; it is called twice, to size the buffer exactly first.
    pub(crate) fn new<'a, I>(prefix: &str, headers: impl Fn() -> I) -> Packed
    where
        I: Iterator<Item = (&'a str, &'a [u8])>,
    {
        let bytes = headers().fold(prefix.len(), |b, (k, v)| b + FRAME + k.len() + v.len());
        let mut buf = Vec::with_capacity(bytes);
        buf.extend_from_slice(prefix.as_bytes());
        for (name, value) in headers() {
            // Header lists are bounded far below 4 GiB by the servers; a
            // length that did not fit would be clamped, never wrap.
            let name_len = u32::try_from(name.len()).unwrap_or(u32::MAX);
            let value_len = u32::try_from(value.len()).unwrap_or(u32::MAX);
            buf.extend_from_slice(&name_len.to_le_bytes());
            buf.extend_from_slice(&value_len.to_le_bytes());
            buf.extend_from_slice(name.as_bytes());
            buf.extend_from_slice(value);
        }
        Packed {
            buf: buf.into_boxed_slice(),
            prefix_len: prefix.len(),
        }
    }

    /// The prefix as packed (it was a `&str`).
    pub(crate) fn prefix(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.buf[..self.prefix_len])
    }

    /// The headers in order; values that are not UTF-8 are decoded lossily.
    pub(crate) fn headers(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> + '_ {
        let mut rest = &self.buf[self.prefix_len..];
        std::iter::from_fn(move || {
            let (frame, after) = rest.split_first_chunk::<FRAME>()?;
            let [n0, n1, n2, n3, v0, v1, v2, v3] = *frame;
            let name_len = u32::from_le_bytes([n0, n1, n2, n3]) as usize;
            let value_len = u32::from_le_bytes([v0, v1, v2, v3]) as usize;
            let name = after.get(..name_len)?;
            let value = after.get(name_len..name_len + value_len)?;
            rest = &after[name_len + value_len..];
            Some((
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(value),
            ))
        })
    }

    /// The headers as owned text pairs.
    pub(crate) fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers()
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect()
    }

    /// Bytes of text held.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_prefix_and_headers_in_order() {
        let mut map = http::HeaderMap::new();
        map.append("b", HeaderValue::from_static("1"));
        map.append("a", HeaderValue::from_static("2"));
        map.append("b", HeaderValue::from_static("3"));
        map.append(
            "x",
            HeaderValue::from_bytes(&[0xff]).unwrap_or(HeaderValue::from_static("")),
        );
        let packed = Packed::new("/p?q", || {
            map.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))
        });
        assert_eq!(packed.prefix(), "/p?q");
        let pairs = packed.header_pairs();
        let expected: Vec<(String, String)> = map
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        assert_eq!(pairs, expected);
        assert_eq!(pairs[3].1, "\u{fffd}");
        assert_eq!(packed.len(), 4 + 4 * (FRAME + 2));
        assert!(Packed::new("", std::iter::empty).header_pairs().is_empty());
    }
}
