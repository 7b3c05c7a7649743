//! What the commands print on standard output, written so that a reader
//! who goes away (`pushproof run | head`) costs nothing but the rest of
//! the text: `println!` panics on a closed pipe, and a run must still
//! finish, write its reports and exit with its verdict.

use std::io::{self, Write as _};

/// Writes `text` to standard output; a closed pipe is not an error (the
/// reader has what it wanted), any other failure is reported once on
/// standard error and otherwise ignored, since the reports on disk are the
/// record.
pub(crate) fn write(text: &str) {
    let mut out = io::stdout().lock();
    let result = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => eprintln!("pushproof: cannot write to standard output: {e}"),
    }
}

/// `print!` that survives a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::stdout::write(&format!($($arg)*))
    };
}

/// `println!` that survives a closed pipe.
macro_rules! outln {
    () => {
        $crate::cli::stdout::write("\n")
    };
    ($($arg:tt)*) => {
        $crate::cli::stdout::write(&format!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
