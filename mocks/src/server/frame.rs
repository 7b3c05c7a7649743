//! The HTTP/2 framing (RFC 9113 §3.4, §4.1, §6) that the layers below h2
//! read and write: the client preface, the 9-byte frame header, and the
//! frame types and flags they look at.

/// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, which a client sends before frames.
pub(super) const CLIENT_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Length (3 bytes), type, flags, stream id (4 bytes).
pub(super) const FRAME_HEADER_LEN: usize = 9;

/// Frame types.
pub(super) const HEADERS: u8 = 0x1;
pub(super) const SETTINGS: u8 = 0x4;
pub(super) const PUSH_PROMISE: u8 = 0x5;
pub(super) const CONTINUATION: u8 = 0x9;

/// Flags: ACK on SETTINGS (and PING), the others on HEADERS and the
/// frames that continue it.
pub(super) const FLAG_ACK: u8 = 0x1;
pub(super) const FLAG_END_HEADERS: u8 = 0x4;
pub(super) const FLAG_PADDED: u8 = 0x8;
pub(super) const FLAG_PRIORITY: u8 = 0x20;

/// The payload length in a frame header (at least its first 3 bytes).
pub(super) fn payload_len(header: &[u8]) -> usize {
    usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2])
}

/// Whether a frame header is a SETTINGS ACK (which has no payload).
pub(super) fn is_settings_ack(header: &[u8]) -> bool {
    header[3] == SETTINGS && header[4] & FLAG_ACK != 0 && payload_len(header) == 0
}
