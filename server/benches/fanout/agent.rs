//! The fake agents: this benchmark binary run as `<bench> --fake-agent MODE`, configured as
//! fanout agent profiles (`[agent.<mode>] command = [...]` in the benchmark's own
//! XDG_CONFIG_HOME). fanout starts them like any agent CLI: in the attempt's worktree, with
//! FANOUT_* in the environment.
//!
//! - `quick`: writes one file and exits 0 (succeeded).
//! - `edit1000`: changes 1,000 of the 10,000 lines of `src/big.rs` (a diff to render).
//! - `edit200`: changes 200 files.
//! - `stream`: writes BENCH_STREAM_RATE bytes per second of output (in 10 chunks a second)
//!   for BENCH_STREAM_SECS seconds, then, by attempt number: n % 10 == 0 changes a file and
//!   exits 1 (failed), n % 10 == 5 changes nothing (empty), otherwise changes a file and exits
//!   0 (succeeded).
//!
//! Every agent writes the wall-clock time it exits at to `$BENCH_STAMPS/<attempt>`, so the
//! benchmark can time the path from an agent's exit to the editor's `fanout/status`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The state an attempt of the `stream` agent must end in.
pub fn expected_stream_state(n: usize) -> &'static str {
    match n % 10 {
        0 => "failed",
        5 => "empty",
        _ => "succeeded",
    }
}

pub fn main(args: &[String]) -> i32 {
    let mode = args.first().map(String::as_str).unwrap_or("quick");
    let attempt = std::env::var("FANOUT_ATTEMPT").unwrap_or_default();
    let n: usize = std::env::var("FANOUT_ATTEMPT_NUMBER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let wt = std::env::current_dir().expect("worktree");
    let code = match mode {
        "quick" => {
            change_one(&wt, &attempt);
            println!("quick agent {attempt}: wrote one file");
            0
        }
        "edit1000" => {
            let path = wt.join("src/big.rs");
            let text = std::fs::read_to_string(&path).expect("src/big.rs");
            let mut out = String::with_capacity(text.len() + 30_000);
            for (i, line) in text.lines().enumerate() {
                out.push_str(line);
                if i % 10 == 3 {
                    out.push_str(" // changed by the attempt");
                }
                out.push('\n');
            }
            std::fs::write(&path, out).expect("write src/big.rs");
            0
        }
        "edit200" => {
            let count: usize = env_num("BENCH_FILES", 300) as usize;
            let mut changed = 0;
            for i in 0..count {
                let f = crate::gen::file(i, count);
                if f.mode != 0o100644 || f.path.ends_with(".bin") {
                    continue;
                }
                let path = wt.join(&f.path);
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .expect("generated file");
                writeln!(file, "// appended by attempt {attempt}").unwrap();
                changed += 1;
                if changed == 200 {
                    break;
                }
            }
            0
        }
        "stream" => {
            stream(
                env_num("BENCH_STREAM_RATE", 1 << 20),
                Duration::from_secs(env_num("BENCH_STREAM_SECS", 30)),
                &attempt,
            );
            match expected_stream_state(n) {
                "failed" => {
                    change_one(&wt, &attempt);
                    1
                }
                "empty" => 0,
                _ => {
                    change_one(&wt, &attempt);
                    0
                }
            }
        }
        other => {
            eprintln!("unknown fake agent mode {other}");
            2
        }
    };
    let _ = std::io::stdout().flush();
    if let Some(dir) = std::env::var_os("BENCH_STAMPS") {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let _ = std::fs::write(
            Path::new(&dir).join(&attempt),
            format!("{}", now.as_secs_f64()),
        );
    }
    code
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn change_one(wt: &Path, attempt: &str) {
    let dir = wt.join("agent-notes");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{attempt}.md")),
        format!("# Attempt {attempt}\n\nThe fake agent's change.\n"),
    )
    .unwrap();
}

/// `rate` bytes a second of agent-like output lines, in chunks every 100 ms, for `secs`.
fn stream(rate: u64, secs: Duration, attempt: &str) {
    let chunk_len = (rate / 10) as usize;
    let mut chunk = Vec::with_capacity(chunk_len + 200);
    let mut k = 0;
    while chunk.len() < chunk_len {
        let _ = writeln!(
            chunk,
            "[{attempt}] step {k}: reading src/module_{}.rs, thinking about the change, running the tests again",
            k % 97
        );
        k += 1;
    }
    chunk.truncate(chunk_len);
    if let Some(last) = chunk.last_mut() {
        *last = b'\n';
    }
    let start = Instant::now();
    let mut out = std::io::stdout().lock();
    let mut tick = 0u32;
    while start.elapsed() < secs {
        if out.write_all(&chunk).is_err() {
            break;
        }
        let _ = out.flush();
        tick += 1;
        let next = start + Duration::from_millis(100) * tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}
