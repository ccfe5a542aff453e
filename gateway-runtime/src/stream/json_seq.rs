//! Splits a byte stream of JSON objects (newline-separated, whitespace-separated or simply
//! concatenated) into one complete object at a time, as the bytes arrive.

use bytes::{Bytes, BytesMut};
use tonic::Status;

/// Incremental splitter of a sequence of top-level JSON objects.
///
/// It only finds object boundaries (tracking strings, escapes and nesting); the caller decodes
/// each object, so syntax errors inside an object surface there.
#[derive(Debug)]
pub struct JsonSeq {
    buf: BytesMut,
    /// Next byte of `buf` to scan.
    pos: usize,
    /// Offset in `buf` where the current object starts, once its `{` was seen.
    start: Option<usize>,
    depth: u32,
    in_string: bool,
    escaped: bool,
    max_object_bytes: usize,
}

impl JsonSeq {
    /// A splitter that rejects objects larger than `max_object_bytes`.
    pub fn new(max_object_bytes: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            pos: 0,
            start: None,
            depth: 0,
            in_string: false,
            escaped: false,
            max_object_bytes,
        }
    }

    /// Appends bytes received from the body.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete object, `None` if more bytes are needed, or an error when the stream
    /// holds something other than JSON objects or an object exceeds the size limit.
    pub fn next_object(&mut self) -> Option<Result<Bytes, Status>> {
        while self.pos < self.buf.len() {
            let byte = self.buf[self.pos];
            self.pos += 1;
            let Some(start) = self.start else {
                match byte {
                    b' ' | b'\t' | b'\r' | b'\n' => continue,
                    b'{' => {
                        self.start = Some(self.pos - 1);
                        self.depth = 1;
                        continue;
                    }
                    other => return Some(Err(not_an_object(other))),
                }
            };
            if self.in_string {
                match byte {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let mut object = self.buf.split_to(self.pos);
                        let object = object.split_off(start).freeze();
                        self.pos = 0;
                        self.start = None;
                        return Some(Ok(object));
                    }
                }
                _ => {}
            }
        }
        match self.start {
            Some(start) if self.buf.len() - start > self.max_object_bytes => {
                Some(Err(Status::resource_exhausted(format!(
                    "request message is larger than the limit of {} bytes",
                    self.max_object_bytes
                ))))
            }
            Some(_) => None,
            None => {
                self.buf.clear();
                self.pos = 0;
                None
            }
        }
    }

    /// Checks the end of the body: an unfinished object is an error.
    pub fn finish(&self) -> Result<(), Status> {
        match self.start {
            Some(_) => Err(Status::invalid_argument(
                "invalid request body: unexpected end of the body inside a JSON object",
            )),
            None => Ok(()),
        }
    }
}

fn not_an_object(byte: u8) -> Status {
    let shown = match byte {
        0x20..=0x7e => format!("'{}'", byte as char),
        _ => format!("byte 0x{byte:02x}"),
    };
    Status::invalid_argument(format!(
        "invalid request body: expected a JSON object, found {shown}"
    ))
}

#[cfg(test)]
mod tests {
    use super::JsonSeq;

    fn objects(chunks: &[&str]) -> Vec<String> {
        let mut seq = JsonSeq::new(1024);
        let mut out = Vec::new();
        for chunk in chunks {
            seq.push(chunk.as_bytes());
            while let Some(object) = seq.next_object() {
                out.push(String::from_utf8(object.unwrap().to_vec()).unwrap());
            }
        }
        seq.finish().unwrap();
        out
    }

    #[test]
    fn splits_newline_whitespace_and_concatenated_objects() {
        assert_eq!(
            objects(&[r#"{"ID":1}{"ID":2}"#, "\n", r#" {"ID":3} "#]),
            [r#"{"ID":1}"#, r#"{"ID":2}"#, r#"{"ID":3}"#]
        );
    }

    #[test]
    fn objects_may_arrive_byte_by_byte() {
        let text = r#"{"a":{"b":[1,{"c":"}{\"]"}]}}{"d":"\\"}"#;
        let chunks: Vec<String> = text.chars().map(String::from).collect();
        let chunks: Vec<&str> = chunks.iter().map(String::as_str).collect();
        assert_eq!(
            objects(&chunks),
            [r#"{"a":{"b":[1,{"c":"}{\"]"}]}}"#, r#"{"d":"\\"}"#]
        );
    }

    #[test]
    fn rejects_what_is_not_an_object() {
        let mut seq = JsonSeq::new(1024);
        seq.push(b"value=");
        let err = seq.next_object().unwrap().unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            err.message(),
            "invalid request body: expected a JSON object, found 'v'"
        );
    }

    #[test]
    fn unfinished_object_at_the_end_is_an_error() {
        let mut seq = JsonSeq::new(1024);
        seq.push(br#"{"key":"#);
        assert!(seq.next_object().is_none());
        assert!(seq.finish().is_err());
    }

    #[test]
    fn oversized_object_is_rejected_before_it_completes() {
        let mut seq = JsonSeq::new(8);
        seq.push(br#"{"key":"0123456789"#);
        let err = seq.next_object().unwrap().unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    }
}
