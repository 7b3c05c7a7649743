//! Request text (a path, header names and values) copied into one buffer of
//! its own, for what outlives a request (captures, inbox deliveries).
//!
//! Why not keep hyper's `HeaderValue`s: they are slices of the connection's
//! read buffer, and while any is alive hyper cannot reuse that buffer, so
//! every read allocates afresh (and the kept requests pin whole buffers).
//! Why not a `String` per name and value: two allocations per header to
//! make and to free. This is two allocations in all, whatever the count.

use std::borrow::Cow;

#[cfg(test)]
use http::HeaderValue;

/// A prefix (the path, or nothing) and headers, packed.
#[derive(Debug, Default)]
pub(crate) struct Packed {
    /// The prefix, then each header's name and value, back to back.
    buf: Box<[u8]>,
    prefix_len: usize,
    /// Per header, where its name and its value end in `buf`.
    ends: Box<[(usize, usize)]>,
}

impl Packed {
    /// Packs `prefix` and the (name, value) pairs `headers()` yields, in
    /// order; it is called twice, to size the buffers exactly first.
    pub(crate) fn new<'a, I>(prefix: &str, headers: impl Fn() -> I) -> Packed
    where
        I: Iterator<Item = (&'a str, &'a [u8])>,
    {
        let (count, bytes) = headers().fold((0, prefix.len()), |(n, b), (k, v)| {
            (n + 1, b + k.len() + v.len())
        });
        let mut buf = Vec::with_capacity(bytes);
        buf.extend_from_slice(prefix.as_bytes());
        let mut ends = Vec::with_capacity(count);
        for (name, value) in headers() {
            buf.extend_from_slice(name.as_bytes());
            let name_end = buf.len();
            buf.extend_from_slice(value);
            ends.push((name_end, buf.len()));
        }
        Packed {
            buf: buf.into_boxed_slice(),
            prefix_len: prefix.len(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// The prefix as packed (it was a `&str`).
    pub(crate) fn prefix(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.buf[..self.prefix_len])
    }

    /// The headers in order; values that are not UTF-8 are decoded lossily.
    pub(crate) fn headers(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> + '_ {
        let mut start = self.prefix_len;
        self.ends.iter().map(move |&(name_end, value_end)| {
            let name = String::from_utf8_lossy(&self.buf[start..name_end]);
            let value = String::from_utf8_lossy(&self.buf[name_end..value_end]);
            start = value_end;
            (name, value)
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
        assert_eq!(packed.len(), 4 + 2 * 4);
        assert!(Packed::new("", std::iter::empty).header_pairs().is_empty());
    }
}
