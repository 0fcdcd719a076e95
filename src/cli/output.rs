//! Writing a command's output to stdout, where a closed pipe is normal.
//!
//! `moat validate -f dir/ | head` closes stdout early. `println!` panics then ("failed printing
//! to stdout: Broken pipe"); these helpers treat `BrokenPipe` as the reader having had enough:
//! the command exits quietly with the exit code it would have had anyway. Other write errors
//! (disk full behind a redirect) are reported on stderr and fail the command.

use std::io::{ErrorKind, Write};
use std::process::ExitCode;

/// Writes `text` to stdout and flushes it. A closed pipe is `Ok` (nothing more to say to
/// anyone); any other I/O error is returned.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    quiet_on_broken_pipe(write_to(&mut std::io::stdout().lock(), text))
}

fn write_to(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// `Ok` for a `BrokenPipe` error, the result unchanged otherwise.
pub fn quiet_on_broken_pipe(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Prints `text` and returns `code`; on a write error other than a closed pipe, says so on
/// stderr and returns 2 (the "could not do it" code of `validate` and `plan`).
pub fn print_then(text: &str, code: ExitCode) -> ExitCode {
    match write_stdout(text) {
        Ok(()) => code,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(ErrorKind::StorageFull, "disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_quiet_and_other_errors_are_not() {
        assert!(quiet_on_broken_pipe(write_to(&mut Closed, "x")).is_ok());
        assert_eq!(quiet_on_broken_pipe(write_to(&mut Full, "x")).map_err(|e| e.kind()), Err(ErrorKind::StorageFull));
        let mut buf = Vec::new();
        write_to(&mut buf, "abc").expect("vec");
        assert_eq!(buf, b"abc");
    }
}
