//! Lines from a byte stream, each held to a bounded size.
//!
//! The session loop reads what a model produced: a line may be endless, or not UTF-8. Reading
//! it with `BufRead::lines` would hold all of it in memory and fail on bad UTF-8; here each
//! line keeps at most `cap` bytes (the rest is read and dropped), and stays bytes, for the
//! toolbox to refuse as it sees fit.

use std::io::{self, BufRead};

/// An iterator-like reader of bounded lines.
#[derive(Debug)]
pub struct BoundedLines<R> {
    reader: R,
    cap: usize,
}

impl<R: BufRead> BoundedLines<R> {
    /// Lines of `reader`, each cut to at most `cap` bytes.
    pub fn new(reader: R, cap: usize) -> Self {
        BoundedLines { reader, cap }
    }

    /// The next line without its line ending (`\n` or `\r\n`), cut to `cap` bytes; `None` at
    /// the end of the stream. A last line without a final newline is still a line.
    pub fn next_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        let mut read_any = false;
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(read_any.then_some(line));
            }
            read_any = true;
            let newline = buf.iter().position(|&b| b == b'\n');
            let content = &buf[..newline.unwrap_or(buf.len())];
            let room = self.cap.saturating_sub(line.len());
            line.extend_from_slice(&content[..content.len().min(room)]);
            let used = newline.map_or(buf.len(), |i| i + 1);
            self.reader.consume(used);
            if newline.is_some() {
                if line.last() == Some(&b'\r') && line.len() < self.cap {
                    line.pop();
                }
                return Ok(Some(line));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], cap: usize, buffer: usize) -> Vec<Vec<u8>> {
        let reader = io::BufReader::with_capacity(buffer, input);
        let mut lines = BoundedLines::new(reader, cap);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            out.push(line);
        }
        out
    }

    #[test]
    fn splits_on_newlines_and_keeps_a_last_unterminated_line() {
        let lines = all(b"a\r\nbc\n\nd", 100, 2);
        assert_eq!(lines, [&b"a"[..], b"bc", b"", b"d"]);
        assert!(all(b"", 100, 8).is_empty());
        assert_eq!(all(b"\n", 100, 8), [b""]);
    }

    #[test]
    fn long_lines_are_cut_and_the_next_line_is_intact() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\nnext\n");
        let lines = all(&input, 5, 64);
        assert_eq!(lines, [&b"xxxxx"[..], b"next"]);
    }

    #[test]
    fn bytes_are_kept_as_they_are() {
        assert_eq!(all(b"\xff\xfe\n", 100, 8), [b"\xff\xfe"]);
    }
}
