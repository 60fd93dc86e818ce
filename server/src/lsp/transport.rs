//! The framing layer between the client's stdio and tower-lsp-server.
//!
//! tower-lsp-server reads frames with tokio-util's `FramedRead`, which ends the stream after
//! the first frame its codec cannot decode: one body that is not JSON, or one bad
//! `Content-Length`, and `serve` returns as if the client had gone. Its codec also waits for
//! whatever body a `Content-Length` announces, and refuses a `Content-Type` whose charset is
//! not utf-8. So the real stdin is read here, and tower-lsp-server only ever sees frames it
//! will decode:
//!
//! ```text
//! stdin ──> Deframer ──> check ──> valid frames ──> duplex ──> tower-lsp-server
//!                          │                                         │
//!                    error answers                                 duplex
//!                          │                                         │
//! stdout <── writer <── queue <── whole frames <── Deframer <────────┘
//! ```
//!
//! - [`Deframer`] cuts bytes into frames: header names are case-insensitive, headers other
//!   than `Content-Length` are ignored, a `Content-Length` over [`MAX_CONTENT_LENGTH`] is
//!   refused without waiting for (or allocating) its body, and after anything malformed it
//!   resumes at the next `Content-Length` header.
//! - [`check`] requires UTF-8 JSON that is a JSON-RPC 2.0 message and that tower-lsp-server's
//!   own types decode; anything else is answered here (-32700 Parse error, -32600 Invalid
//!   Request).
//! - tower-lsp-server's output is cut into frames again, so an error answer is only ever
//!   written between two whole frames; one writer owns stdout.

use serde_json::{json, Value};
use std::fmt;
use std::future::Future;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

/// The largest body accepted from the client. Larger ones are refused and skipped.
pub const MAX_CONTENT_LENGTH: u64 = 64 * 1024 * 1024;
/// A header longer than this without its ending empty line is garbage (real ones are ~60 bytes).
const MAX_HEADER_BYTES: usize = 8 * 1024;
/// How much is read from stdin (and from tower-lsp-server) at a time.
const READ_BYTES: usize = 64 * 1024;
/// The in-memory pipes to and from tower-lsp-server.
const PIPE_BYTES: usize = 64 * 1024;
/// Whole frames waiting for stdout.
const QUEUE_FRAMES: usize = 64;
/// Bodies larger than this are checked on a blocking thread (parsing them takes a while).
const CHECK_INLINE_BYTES: usize = 1024 * 1024;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;

/// The header that starts every frame, lowercase: where resynchronization resumes.
const CONTENT_LENGTH: &[u8] = b"content-length";

/// Run `server` (tower-lsp-server's `Server::serve` on the two pipes it is given: its input,
/// its output) behind the framing layer, on the client's `input` and `output`. Returns when
/// the session is over: after `exit`, or at the end of input, once everything the server
/// wrote has been written out.
pub async fn serve<I, O, S, F>(input: I, output: O, server: S)
where
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
    S: FnOnce(DuplexStream, DuplexStream) -> F,
    F: Future<Output = ()>,
{
    let (to_server, server_input) = tokio::io::duplex(PIPE_BYTES);
    let (server_output, from_server) = tokio::io::duplex(PIPE_BYTES);
    let (queue, queued) = mpsc::channel(QUEUE_FRAMES);
    let client_side = {
        let queue = queue.clone();
        async move {
            let served = server(server_input, server_output);
            tokio::pin!(served);
            tokio::select! {
                // The server ended by itself: no more input is read.
                () = &mut served => {}
                // The input ended (or `exit` went through, or the server stopped reading):
                // the server gets the end of its input and finishes.
                () = pump_client(input, to_server, queue) => served.await,
            }
        }
    };
    tokio::join!(
        client_side,
        pump_server(from_server, queue),
        write_client(output, queued)
    );
}

/// The client's bytes: valid frames go to the server, the rest is answered.
async fn pump_client<R: AsyncRead + Unpin>(
    mut input: R,
    mut to_server: DuplexStream,
    queue: mpsc::Sender<Vec<u8>>,
) {
    let mut frames = Deframer::new(MAX_CONTENT_LENGTH);
    let mut chunk = vec![0; READ_BYTES];
    loop {
        let n = match input.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("cannot read from the client, ending: {e}");
                0
            }
        };
        if n == 0 {
            frames.end_of_input();
        } else {
            frames.push(&chunk[..n]);
        }
        while let Some(event) = frames.next_event() {
            let body = match event {
                Event::Frame(body) => body,
                Event::Malformed(problem) => {
                    refuse(&queue, Refusal::parse_error(problem.to_string())).await;
                    continue;
                }
            };
            let (checked, body) = check_off_thread(body).await;
            match checked {
                Ok(Checked { exit }) => {
                    let header = format!("Content-Length: {}\r\n\r\n", body.len());
                    let sent = async {
                        to_server.write_all(header.as_bytes()).await?;
                        to_server.write_all(&body).await
                    };
                    if let Err(e) = sent.await {
                        tracing::debug!("the server stopped reading: {e}");
                        return;
                    }
                    // tower-lsp-server stops reading at `exit`; so does this layer, leaving no
                    // read of stdin pending (the runtime would wait for it at shutdown).
                    if exit {
                        return;
                    }
                }
                Err(refusal) => refuse(&queue, refusal).await,
            }
        }
        if n == 0 {
            return;
        }
    }
}

/// [`check`], on a blocking thread for a large body (parsing megabytes of JSON is blocking
/// work); in order either way. Gives the body back.
async fn check_off_thread(body: Vec<u8>) -> (Result<Checked, Refusal>, Vec<u8>) {
    if body.len() <= CHECK_INLINE_BYTES {
        return (check(&body), body);
    }
    match tokio::task::spawn_blocking(move || (check(&body), body)).await {
        Ok(done) => done,
        Err(e) => (
            Err(Refusal::parse_error(format!(
                "the message could not be read ({e})"
            ))),
            Vec::new(),
        ),
    }
}

/// Log a refused message and queue its error answer.
async fn refuse(queue: &mpsc::Sender<Vec<u8>>, refusal: Refusal) {
    tracing::warn!(
        "refused a message from the client (answered {}, id {}): {}",
        refusal.code,
        refusal.id,
        refusal.message
    );
    // The writer only goes away once every sender has: this cannot fail while we run.
    let _ = queue.send(refusal.answer()).await;
}

/// The server's output, cut into whole frames for the writer.
async fn pump_server(mut from_server: DuplexStream, queue: mpsc::Sender<Vec<u8>>) {
    // tower-lsp-server writes well-formed frames of any size: no cap here.
    let mut frames = Deframer::new(u64::MAX);
    let mut chunk = vec![0; READ_BYTES];
    loop {
        let n = match from_server.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("cannot read the server's output: {e}");
                0
            }
        };
        if n == 0 {
            frames.end_of_input();
        } else {
            frames.push(&chunk[..n]);
        }
        while let Some(event) = frames.next_event() {
            match event {
                Event::Frame(body) => {
                    let _ = queue.send(frame(&body)).await;
                }
                Event::Malformed(problem) => {
                    tracing::error!("the server wrote a malformed frame, dropped: {problem}")
                }
            }
        }
        if n == 0 {
            return;
        }
    }
}

/// The only writer of stdout: one whole frame at a time.
async fn write_client<W: AsyncWrite + Unpin>(mut output: W, mut queued: mpsc::Receiver<Vec<u8>>) {
    let mut broken = false;
    while let Some(frame) = queued.recv().await {
        // Once stdout is gone, frames are still taken (and dropped) so that nothing upstream
        // blocks: the server goes on until its input ends, as it did before this layer.
        if broken {
            continue;
        }
        let written = async {
            output.write_all(&frame).await?;
            output.flush().await
        };
        if let Err(e) = written.await {
            tracing::warn!("cannot write to the client: {e}");
            broken = true;
        }
    }
}

/// `body` with its header.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

// ---------------------------------------------------------------------------------------
// Cutting bytes into frames

/// What the deframer found next.
#[derive(Debug, PartialEq)]
pub(crate) enum Event {
    /// A body, as many bytes as its Content-Length said (not checked: see [`check`]).
    Frame(Vec<u8>),
    /// Bytes that are not a frame; they were skipped.
    Malformed(Malformed),
}

/// Why bytes are not a frame, in the words of the error answer.
#[derive(Debug, PartialEq)]
pub(crate) enum Malformed {
    HeaderNotUtf8,
    NotAHeader(String),
    NoContentLength,
    BadContentLength(String),
    ConflictingLengths(String, String),
    TooLong(String),
    HeaderTooLong,
    /// The next frame's header began before the body was complete.
    CutShort {
        claimed: usize,
        got: usize,
    },
    EndInHeader,
    EndInBody {
        claimed: usize,
        got: usize,
    },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::HeaderNotUtf8 => write!(f, "a header is not UTF-8"),
            Malformed::NotAHeader(line) => write!(f, "not a header line: {line}"),
            Malformed::NoContentLength => write!(f, "the header has no Content-Length"),
            Malformed::BadContentLength(value) => {
                write!(f, "Content-Length is not a number of bytes: '{value}'")
            }
            Malformed::ConflictingLengths(a, b) => {
                write!(f, "two different Content-Length values ({a} and {b})")
            }
            Malformed::TooLong(value) => write!(
                f,
                "Content-Length {value} is over the limit of {} MiB; skipped up to the next header",
                MAX_CONTENT_LENGTH / (1024 * 1024)
            ),
            Malformed::HeaderTooLong => write!(
                f,
                "no end of header (an empty line) within {MAX_HEADER_BYTES} bytes"
            ),
            Malformed::CutShort { claimed, got } => write!(
                f,
                "Content-Length said {claimed} bytes, but a new message began after {got}"
            ),
            Malformed::EndInHeader => write!(f, "the input ended inside a header"),
            Malformed::EndInBody { claimed, got } => write!(
                f,
                "the input ended {got} bytes into a message of {claimed} bytes"
            ),
        }
    }
}

/// Untrusted header text, safe to show in an answer or a log line.
fn quoted(text: &str) -> String {
    crate::text::shorten(&crate::text::escape_line(text), 60)
}

#[derive(Debug)]
enum State {
    /// Waiting for a header's ending empty line.
    Headers,
    /// Waiting for `len` bytes of body; no header begins in `buf[..scanned]`.
    Body { len: usize, scanned: usize },
    /// After something malformed: dropping bytes up to the next `Content-Length`.
    Skipping,
}

/// Cuts a byte stream into LSP frames (`Content-Length: N\r\n...\r\n\r\n` then N bytes),
/// robustly: never more than one frame plus one read is held, and after anything malformed
/// it resumes at the next `Content-Length` header.
pub(crate) struct Deframer {
    buf: Vec<u8>,
    state: State,
    max: u64,
    eof: bool,
}

impl Deframer {
    /// A deframer refusing bodies over `max` bytes.
    pub(crate) fn new(max: u64) -> Deframer {
        Deframer {
            buf: Vec::new(),
            state: State::Headers,
            max,
            eof: false,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// No more bytes will come: what is left is decided on now.
    pub(crate) fn end_of_input(&mut self) {
        self.eof = true;
    }

    /// The next frame or malformed stretch, if the bytes so far tell.
    pub(crate) fn next_event(&mut self) -> Option<Event> {
        loop {
            match self.state {
                State::Headers => {
                    // Blank lines between frames are tolerated.
                    let blank = self.buf.chunks(2).take_while(|c| *c == b"\r\n").count() * 2;
                    self.buf.drain(..blank);
                    if self.buf.is_empty() {
                        return None;
                    }
                    let window = &self.buf[..self.buf.len().min(MAX_HEADER_BYTES + 4)];
                    let Some(end) = find(window, b"\r\n\r\n") else {
                        if self.buf.len() >= MAX_HEADER_BYTES + 4 {
                            return Some(self.resync(Malformed::HeaderTooLong));
                        }
                        if self.eof {
                            let only_space = self.buf.iter().all(u8::is_ascii_whitespace);
                            self.buf.clear();
                            return (!only_space)
                                .then_some(Event::Malformed(Malformed::EndInHeader));
                        }
                        return None;
                    };
                    match parse_header(&self.buf[..end], self.max) {
                        Ok(len) => {
                            self.buf.drain(..end + 4);
                            self.state = State::Body { len, scanned: 0 };
                        }
                        // The header itself is fine: its body is what is skipped, without
                        // waiting for it.
                        Err(too_long @ Malformed::TooLong(_)) => {
                            self.buf.drain(..end + 4);
                            self.state = State::Skipping;
                            return Some(Event::Malformed(too_long));
                        }
                        Err(problem) => return Some(self.resync(problem)),
                    }
                }
                State::Body { len, scanned } => {
                    let available = len.min(self.buf.len());
                    match scan_for_header(&self.buf, scanned, available) {
                        Scan::Found(at) => {
                            // The claimed length was wrong: the next frame starts here.
                            self.buf.drain(..at);
                            self.state = State::Headers;
                            return Some(Event::Malformed(Malformed::CutShort {
                                claimed: len,
                                got: at,
                            }));
                        }
                        Scan::Undecided(at) => {
                            self.state = State::Body { len, scanned: at };
                            // A header may begin inside the body and run past its end: wait
                            // for the bytes that tell, unless none past the body came yet
                            // (then it is only the body's own end) or none will.
                            let past_the_body = self.buf.len() > len;
                            if self.buf.len() < len || (past_the_body && !self.eof) {
                                return self.end_inside_body(len);
                            }
                        }
                        Scan::None => {
                            self.state = State::Body {
                                len,
                                scanned: available,
                            };
                            if self.buf.len() < len {
                                return self.end_inside_body(len);
                            }
                        }
                    }
                    let rest = self.buf.split_off(len);
                    let body = std::mem::replace(&mut self.buf, rest);
                    self.state = State::Headers;
                    return Some(Event::Frame(body));
                }
                State::Skipping => match find_content_length(&self.buf) {
                    Some(at) => {
                        self.buf.drain(..at);
                        self.state = State::Headers;
                    }
                    None => {
                        // Keep what could be the start of the name, cut by the read.
                        let keep = if self.eof {
                            0
                        } else {
                            CONTENT_LENGTH.len() - 1
                        };
                        let cut = self.buf.len().saturating_sub(keep);
                        self.buf.drain(..cut);
                        return None;
                    }
                },
            }
        }
    }

    /// Waiting for more of a body; at the end of input, the body is cut short.
    fn end_inside_body(&mut self, len: usize) -> Option<Event> {
        if !self.eof {
            return None;
        }
        let got = self.buf.len();
        self.buf.clear();
        self.state = State::Skipping;
        Some(Event::Malformed(Malformed::EndInBody { claimed: len, got }))
    }

    /// After a malformed header: resume at the next `Content-Length` after its first byte
    /// (which may be inside the bad header, as when garbage ran into a good one).
    fn resync(&mut self, problem: Malformed) -> Event {
        self.buf.drain(..1);
        self.state = State::Skipping;
        Event::Malformed(problem)
    }
}

/// The body length a header block (without its ending `\r\n\r\n`) announces.
fn parse_header(block: &[u8], max: u64) -> Result<usize, Malformed> {
    let text = std::str::from_utf8(block).map_err(|_| Malformed::HeaderNotUtf8)?;
    let mut length: Option<(&str, u64)> = None;
    for line in text.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Malformed::NotAHeader(quoted(line)));
        };
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(Malformed::NotAHeader(quoted(line)));
        }
        // Content-Type and any other header are ignored: the body is read as UTF-8 JSON,
        // which is all LSP allows.
        if !name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        let value = value.trim_matches([' ', '\t']);
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Malformed::BadContentLength(quoted(value)));
        }
        // Only digits: the one way to fail is being past u64, over any limit.
        let n = value.parse::<u64>().unwrap_or(u64::MAX);
        match length {
            Some((first, m)) if m != n => {
                return Err(Malformed::ConflictingLengths(quoted(first), quoted(value)))
            }
            _ => length = Some((value, n)),
        }
    }
    let (value, n) = length.ok_or(Malformed::NoContentLength)?;
    if n > max {
        return Err(Malformed::TooLong(quoted(value)));
    }
    usize::try_from(n).map_err(|_| Malformed::TooLong(quoted(value)))
}

/// An HTTP header name (RFC 9110 token).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where `Content-Length` (any case) first occurs in `bytes`.
fn find_content_length(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(CONTENT_LENGTH.len())
        .position(|w| w.eq_ignore_ascii_case(CONTENT_LENGTH))
}

enum Scan {
    /// A `Content-Length` header line begins here.
    Found(usize),
    /// One may begin here: the bytes after it have not arrived.
    Undecided(usize),
    None,
}

/// Whether a `Content-Length` header line begins in `buf[from..end]` (it may run past
/// `end`).
///
/// Such a line inside a body means the body is not JSON, so its Content-Length was wrong:
/// the line holds a raw CR LF, which JSON allows only between tokens, and letters, which it
/// allows only inside strings (or as true/false/null), and no quote to close a string before
/// the CR. So the next frame's header showing up inside a body is a sure sign that the body
/// was cut short, or announced longer than it is, and the frame is resumed there.
fn scan_for_header(buf: &[u8], from: usize, end: usize) -> Scan {
    let mut at = from;
    while at < end {
        let Some(offset) = buf[at..end]
            .iter()
            .position(|b| b.eq_ignore_ascii_case(&b'c'))
        else {
            break;
        };
        let start = at + offset;
        match header_line_at(&buf[start..]) {
            Some(true) => return Scan::Found(start),
            Some(false) => at = start + 1,
            None => return Scan::Undecided(start),
        }
    }
    Scan::None
}

/// Whether `bytes` begins with `Content-Length:` then spaces and digits then CR LF; None
/// when `bytes` ends before that is known.
fn header_line_at(bytes: &[u8]) -> Option<bool> {
    /// Longer than any real header line: a long run of digits or spaces is not one.
    const MAX_LINE: usize = 64;
    let name = CONTENT_LENGTH.len();
    if bytes.len() < name {
        return if bytes.eq_ignore_ascii_case(&CONTENT_LENGTH[..bytes.len()]) {
            None
        } else {
            Some(false)
        };
    }
    if !bytes[..name].eq_ignore_ascii_case(CONTENT_LENGTH) {
        return Some(false);
    }
    let mut i = name;
    while matches!(bytes.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    match bytes.get(i) {
        Some(b':') => i += 1,
        Some(_) => return Some(false),
        None => return None,
    }
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'0'..=b'9')) && i < MAX_LINE {
        i += 1;
    }
    match (bytes.get(i), bytes.get(i + 1)) {
        _ if i >= MAX_LINE => Some(false),
        (Some(b'\r'), Some(b'\n')) => Some(true),
        (Some(b'\r'), None) | (None, _) => None,
        _ => Some(false),
    }
}

// ---------------------------------------------------------------------------------------
// Checking a body

/// A body that may go to the server.
#[derive(Debug, PartialEq)]
pub(crate) struct Checked {
    /// The `exit` notification: the server stops reading after it.
    pub exit: bool,
}

/// A message answered here with an error.
#[derive(Debug, PartialEq)]
pub(crate) struct Refusal {
    pub code: i64,
    /// The message's id when one can be read, else null.
    pub id: Value,
    pub message: String,
}

impl Refusal {
    fn parse_error(why: String) -> Refusal {
        Refusal {
            code: PARSE_ERROR,
            id: Value::Null,
            message: format!("Parse error: {why}"),
        }
    }

    /// The JSON-RPC error response, framed.
    fn answer(&self) -> Vec<u8> {
        let body = json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": {"code": self.code, "message": self.message},
        });
        frame(body.to_string().as_bytes())
    }
}

/// What tower-lsp-server decodes each frame into: its `Message` is private, so here is the
/// same untagged enum over its public types. A body that decodes as this decodes there, and
/// nothing else may reach it (its read loop would stop).
#[derive(serde::Deserialize)]
#[serde(untagged)]
#[allow(dead_code)] // only decoded, as a check
enum TowerMessage {
    Response(tower_lsp_server::jsonrpc::Response),
    Request(tower_lsp_server::jsonrpc::Request),
}

/// Whether `body` is a JSON-RPC 2.0 message the server can be given.
pub(crate) fn check(body: &[u8]) -> Result<Checked, Refusal> {
    if body.is_empty() {
        return Err(Refusal::parse_error("the message is empty".into()));
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        Refusal::parse_error(format!(
            "the message is not UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Refusal::parse_error(format!("the message is not JSON ({e})")))?;
    let id = match value.get("id") {
        Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
        _ => Value::Null,
    };
    let invalid = |why: &str| Refusal {
        code: INVALID_REQUEST,
        id: id.clone(),
        message: format!("Invalid Request: {why}"),
    };
    let shape = json_rpc_shape(&value).map_err(invalid)?;
    // Last, exactly the decoding the server will do (duplicate fields, error objects with
    // other members, ids it cannot represent...), and as the same kind of message: its
    // Request takes a missing method as "" and ignores unknown fields, so a bad response
    // would otherwise reach it as a request.
    let decoded = serde_json::from_str::<TowerMessage>(text);
    match (shape, decoded) {
        (Shape::Request { exit }, Ok(TowerMessage::Request(_))) => Ok(Checked { exit }),
        (Shape::Response, Ok(TowerMessage::Response(_))) => Ok(Checked { exit: false }),
        _ => Err(invalid("not a JSON-RPC request, notification or response")),
    }
}

/// What a message is, by its members.
enum Shape {
    /// A request or a notification; `exit` for the exit notification.
    Request { exit: bool },
    /// A response to one of the server's own requests.
    Response,
}

/// The shape JSON-RPC 2.0 requires of one message.
fn json_rpc_shape(value: &Value) -> Result<Shape, &'static str> {
    let Value::Object(message) = value else {
        return Err(match value {
            Value::Array(_) => "the message is a JSON array (a batch), which LSP does not use",
            _ => "the message must be a JSON object",
        });
    };
    match message.get("jsonrpc") {
        Some(Value::String(v)) if v == "2.0" => {}
        None => return Err("the message has no \"jsonrpc\": \"2.0\""),
        Some(_) => return Err("\"jsonrpc\" must be \"2.0\""),
    }
    if !matches!(
        message.get("id"),
        None | Some(Value::Number(_) | Value::String(_) | Value::Null)
    ) {
        return Err("\"id\" must be a number, a string or null");
    }
    let has = |key: &str| message.contains_key(key);
    match message.get("method") {
        Some(Value::String(method)) => {
            if has("result") || has("error") {
                return Err("a request or notification cannot carry \"result\" or \"error\"");
            }
            // null is not JSON-RPC's, but clients send it for methods without parameters.
            if !matches!(
                message.get("params"),
                None | Some(Value::Object(_) | Value::Array(_) | Value::Null)
            ) {
                return Err("\"params\" must be an object or an array");
            }
            Ok(Shape::Request {
                exit: method == "exit",
            })
        }
        Some(_) => Err("\"method\" must be a string"),
        // A response, to one of the server's own requests.
        None if !has("id") => Err(
            "the message has neither a \"method\" (a request or notification) nor an \"id\" (a response)",
        ),
        None => match (message.get("result"), message.get("error")) {
            (Some(_), None) => Ok(Shape::Response),
            (None, Some(Value::Object(error)))
                if error.get("code").is_some_and(Value::is_i64)
                    && error.get("message").is_some_and(Value::is_string) =>
            {
                Ok(Shape::Response)
            }
            (None, Some(_)) => {
                Err("\"error\" must be an object with an integer \"code\" and a string \"message\"")
            }
            _ => Err("a response needs exactly one of \"result\" and \"error\""),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(input: &[u8]) -> Vec<Event> {
        let mut d = Deframer::new(MAX_CONTENT_LENGTH);
        d.push(input);
        let mut out = Vec::new();
        while let Some(e) = d.next_event() {
            out.push(e);
        }
        d.end_of_input();
        while let Some(e) = d.next_event() {
            out.push(e);
        }
        out
    }

    fn frame_of(body: &str) -> Vec<u8> {
        frame(body.as_bytes())
    }

    fn body(text: &str) -> Event {
        Event::Frame(text.as_bytes().to_vec())
    }

    #[test]
    fn frames_back_to_back_and_split_anywhere() {
        let input = [frame_of("{\"a\":1}"), frame_of("{}")].concat();
        assert_eq!(events(&input), [body("{\"a\":1}"), body("{}")]);
        // Fed one byte at a time, the same frames.
        let mut d = Deframer::new(MAX_CONTENT_LENGTH);
        let mut out = Vec::new();
        for b in &input {
            d.push(std::slice::from_ref(b));
            while let Some(e) = d.next_event() {
                out.push(e);
            }
        }
        assert_eq!(out, [body("{\"a\":1}"), body("{}")]);
    }

    #[test]
    fn headers_in_any_case_and_others_ignored() {
        let input = b"content-type: x; charset=latin1\r\nCONTENT-LENGTH:  2 \r\nX-A: b\r\n\r\n{}";
        assert_eq!(events(input), [body("{}")]);
        assert_eq!(events(b"\r\n\r\nContent-Length: 2\r\n\r\n{}"), [body("{}")]);
    }

    #[test]
    fn bad_headers_resume_at_the_next_content_length() {
        let good = frame_of("{}");
        for (bad, problem) in [
            (
                &b"Content-Length: -1\r\n\r\nxyz"[..],
                Malformed::BadContentLength("-1".into()),
            ),
            (
                b"Content-Length: \r\n\r\n",
                Malformed::BadContentLength("".into()),
            ),
            (b"Content-Type: a\r\n\r\n{}", Malformed::NoContentLength),
            (b"garbage", Malformed::NoContentLength),
            (b"Content-Length\xff: 2\r\n\r\n{}", Malformed::HeaderNotUtf8),
            (b"hello\r\n", Malformed::NotAHeader("hello".into())),
            (
                b"{\"a\":1}",
                Malformed::NotAHeader("{\"a\":1}Content-Length: 2".into()),
            ),
        ] {
            let input = [bad, &good[..]].concat();
            assert_eq!(
                events(&input),
                [Event::Malformed(problem), body("{}")],
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn two_lengths_must_agree() {
        assert_eq!(
            events(b"Content-Length: 2\r\ncontent-length: 2\r\n\r\n{}"),
            [body("{}")]
        );
        assert_eq!(
            events(b"Content-Length: 9\r\nContent-Length: 2\r\n\r\n{}"),
            [
                Event::Malformed(Malformed::ConflictingLengths("9".into(), "2".into())),
                body("{}")
            ]
        );
    }

    #[test]
    fn over_the_cap_is_skipped_without_waiting_for_the_body() {
        let over = MAX_CONTENT_LENGTH + 1;
        let input = [
            format!("Content-Length: {over}\r\n\r\nabc").as_bytes(),
            &frame_of("{}"),
        ]
        .concat();
        assert_eq!(
            events(&input),
            [
                Event::Malformed(Malformed::TooLong(over.to_string())),
                body("{}")
            ]
        );
        let huge = "9".repeat(40);
        let input = format!("Content-Length: {huge}\r\n\r\n");
        assert_eq!(
            events(input.as_bytes()),
            [Event::Malformed(Malformed::TooLong(huge))]
        );
        // Skipping keeps only the bytes that could start the next header.
        let mut d = Deframer::new(MAX_CONTENT_LENGTH);
        d.push(format!("Content-Length: {over}\r\n\r\n").as_bytes());
        assert!(matches!(d.next_event(), Some(Event::Malformed(_))));
        d.push(&vec![b'x'; 1 << 20]);
        assert_eq!(d.next_event(), None);
        assert!(d.buf.len() < CONTENT_LENGTH.len());
    }

    #[test]
    fn a_header_inside_a_body_starts_the_next_frame() {
        // Announced longer than it is.
        let input = [&b"Content-Length: 500\r\n\r\n{\"a\":"[..], &frame_of("{}")].concat();
        assert_eq!(
            events(&input),
            [
                Event::Malformed(Malformed::CutShort {
                    claimed: 500,
                    got: 5
                }),
                body("{}")
            ]
        );
        // The claimed end falls inside the next header.
        let input = [&b"Content-Length: 3\r\n\r\n"[..], &frame_of("{}")].concat();
        assert_eq!(
            events(&input),
            [
                Event::Malformed(Malformed::CutShort { claimed: 3, got: 0 }),
                body("{}")
            ]
        );
        // A JSON string holding header text is not a header.
        let text = r#"{"t":"Content-Length: 5\r\n\r\n"}"#;
        assert_eq!(events(&frame_of(text)), [body(text)]);
    }

    #[test]
    fn a_body_ending_like_a_header_name_is_not_held_back() {
        // Nothing after the body yet: the body is taken (and refused later as not JSON).
        let mut d = Deframer::new(MAX_CONTENT_LENGTH);
        d.push(b"Content-Length: 4\r\n\r\nabcC");
        assert_eq!(d.next_event(), Some(body("abcC")));
        // Bytes after it that may continue a header: wait for them.
        let mut d = Deframer::new(MAX_CONTENT_LENGTH);
        d.push(b"Content-Length: 4\r\n\r\nabcCont");
        assert_eq!(d.next_event(), None);
        d.push(b"ent-Length: 2\r\n\r\n{}");
        assert_eq!(
            d.next_event(),
            Some(Event::Malformed(Malformed::CutShort { claimed: 4, got: 3 }))
        );
        assert_eq!(d.next_event(), Some(body("{}")));
    }

    #[test]
    fn a_header_without_end_is_garbage_after_8_kib() {
        let mut input = vec![b'x'; MAX_HEADER_BYTES + 10];
        input.extend_from_slice(&frame_of("{}"));
        assert_eq!(
            events(&input),
            [Event::Malformed(Malformed::HeaderTooLong), body("{}")]
        );
    }

    #[test]
    fn the_end_of_input_inside_a_frame() {
        assert_eq!(
            events(b"Content-Length: 10\r\n\r\n{}"),
            [Event::Malformed(Malformed::EndInBody {
                claimed: 10,
                got: 2
            })]
        );
        assert_eq!(
            events(b"Content-Len"),
            [Event::Malformed(Malformed::EndInHeader)]
        );
        assert_eq!(events(b"\r\n \n"), []);
    }

    fn refused(body: &str) -> (i64, Value) {
        let r = check(body.as_bytes()).expect_err(body);
        (r.code, r.id)
    }

    #[test]
    fn check_accepts_what_the_server_decodes() {
        for ok in [
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"shutdown","params":null}"#,
            r#"{"jsonrpc":"2.0","method":"initialized"}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":null}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}"#,
        ] {
            assert_eq!(check(ok.as_bytes()), Ok(Checked { exit: false }), "{ok}");
        }
        assert_eq!(
            check(br#"{"jsonrpc":"2.0","method":"exit"}"#),
            Ok(Checked { exit: true })
        );
    }

    #[test]
    fn check_refuses_with_the_id_when_it_can_be_read() {
        assert_eq!(refused("nope"), (PARSE_ERROR, Value::Null));
        assert_eq!(refused(""), (PARSE_ERROR, Value::Null));
        assert_eq!(
            check(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}").map_err(|r| r.code),
            Err(PARSE_ERROR)
        );
        assert_eq!(refused("[1]"), (INVALID_REQUEST, Value::Null));
        assert_eq!(refused("7"), (INVALID_REQUEST, Value::Null));
        assert_eq!(
            refused(r#"{"id":4,"method":"x"}"#),
            (INVALID_REQUEST, json!(4))
        );
        assert_eq!(
            refused(r#"{"jsonrpc":"2.0","id":"q","method":1}"#),
            (INVALID_REQUEST, json!("q"))
        );
        assert_eq!(
            refused(r#"{"jsonrpc":"2.0","id":[1],"method":"x"}"#),
            (INVALID_REQUEST, Value::Null)
        );
        assert_eq!(
            refused(r#"{"jsonrpc":"2.0","id":5,"method":"x","params":1}"#),
            (INVALID_REQUEST, json!(5))
        );
        assert_eq!(
            refused(r#"{"jsonrpc":"2.0","id":6}"#),
            (INVALID_REQUEST, json!(6))
        );
        // Shapes only the server's own decoding refuses.
        assert_eq!(
            refused(r#"{"jsonrpc":"2.0","id":7,"method":"x","method":"y"}"#),
            (INVALID_REQUEST, json!(7))
        );
        assert_eq!(
            refused(r#"{"jsonrpc":"2.0","id":8,"error":{"code":1,"message":"m","x":0}}"#),
            (INVALID_REQUEST, json!(8))
        );
        assert_eq!(
            refused(r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#),
            (INVALID_REQUEST, json!(1.5))
        );
    }

    #[test]
    fn answers_are_framed_json_rpc_errors() {
        let answer = Refusal::parse_error("x".into()).answer();
        let text = String::from_utf8(answer).unwrap();
        let (header, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(header, format!("Content-Length: {}", body.len()));
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            v,
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error: x"}})
        );
    }

    /// The whole layer with an echo server in place of tower-lsp-server: valid frames reach
    /// it, the rest is answered, and output frames are whole.
    #[tokio::test]
    async fn serve_forwards_valid_frames_and_answers_the_rest() {
        let (mut client, input) = tokio::io::duplex(1 << 16);
        let (output, mut client_output) = tokio::io::duplex(1 << 16);
        let echo = |mut from: DuplexStream, mut to: DuplexStream| async move {
            let mut all = Vec::new();
            let _ = from.read_to_end(&mut all).await;
            let _ = to.write_all(&all).await;
        };
        let session = serve(input, output, echo);
        let talk = async {
            let request = r#"{"jsonrpc":"2.0","id":1,"method":"x"}"#;
            let mut bytes = frame_of("not json");
            bytes.extend_from_slice(b"junk");
            bytes.extend_from_slice(&frame_of(request));
            client.write_all(&bytes).await.unwrap();
            drop(client);
            let mut out = Vec::new();
            client_output.read_to_end(&mut out).await.unwrap();
            out
        };
        let ((), out) = tokio::join!(session, talk);
        let mut d = Deframer::new(u64::MAX);
        d.push(&out);
        d.end_of_input();
        let mut bodies = Vec::new();
        while let Some(Event::Frame(b)) = d.next_event() {
            bodies.push(serde_json::from_slice::<Value>(&b).unwrap());
        }
        assert_eq!(bodies.len(), 3, "{bodies:?}");
        assert_eq!(bodies[0]["error"]["code"], PARSE_ERROR);
        assert_eq!(bodies[1]["error"]["code"], PARSE_ERROR, "the junk");
        assert_eq!(bodies[2], json!({"jsonrpc":"2.0","id":1,"method":"x"}));
    }
}
