//! Generated repositories: deterministic content with a realistic mix of file sizes, committed
//! through `git fast-import` (one pack, as a cloned repository has), the index refreshed with
//! stat data, then a few local changes: modified, staged, deleted, untracked and ignored files.

use rayon::prelude::*;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// SplitMix64: small, fast, and the same numbers everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo)
    }
}

const WORDS: &[&str] = &[
    "let", "value", "self", "return", "match", "config", "result", "error", "index", "buffer",
    "parse", "token", "state", "request", "handle", "update", "render", "client", "server", "fn",
    "impl", "struct", "pub", "if", "else", "for", "in", "while", "async", "await", "Some", "None",
    "Ok", "Err", "String", "Vec", "map", "iter", "collect", "into", "from", "path", "file", "line",
    "count", "len", "new", "default", "clone", "data", "items", "node", "tree",
];

/// One generated file: path, mode (100644, 100755 or 120000) and content.
pub struct GenFile {
    pub path: String,
    pub mode: u32,
    pub content: Vec<u8>,
}

/// Text that looks like source: indented lines of words and numbers, `size` bytes.
pub fn text(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 100);
    while out.len() < size {
        let indent = 4 * rng.below(4) as usize;
        out.extend(std::iter::repeat_n(b' ', indent));
        let words = rng.range(3, 12);
        for w in 0..words {
            if w > 0 {
                out.push(b' ');
            }
            if rng.below(6) == 0 {
                let _ = write!(out, "{}", rng.below(10_000));
            } else {
                out.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
            }
        }
        out.extend_from_slice(if rng.below(3) == 0 { b";\n" } else { b"\n" });
    }
    out.truncate(size);
    out.push(b'\n');
    out
}

/// File `i` of a repository of `count` files. Size mix (per file): 50% 0.1-2 KB, 33% 2-8 KB,
/// 13% 8-32 KB, 3.8% 32-128 KB, 0.2% binary 128-512 KB; about 8.5 KB on average, like a
/// typical source repository. About 1% are executable scripts.
pub fn file(i: usize, count: usize) -> GenFile {
    let mut rng = Rng::new(0x5EED_0000 + i as u64);
    let leaf = i / 20;
    let dir = if count <= 20 {
        "src".to_string()
    } else {
        format!(
            "pkg{:02}/mod{}/part{}",
            leaf / 100,
            (leaf / 10) % 10,
            leaf % 10
        )
    };
    let class = rng.below(1000);
    let (size, binary) = match class {
        0..=499 => (rng.range(100, 2_000), false),
        500..=829 => (rng.range(2_000, 8_000), false),
        830..=959 => (rng.range(8_000, 32_000), false),
        960..=997 => (rng.range(32_000, 128_000), false),
        _ => (rng.range(128_000, 512_000), true),
    };
    let exts = [
        "rs", "rs", "rs", "py", "ts", "ts", "md", "json", "toml", "c",
    ];
    let (ext, mode) = if binary {
        ("bin", 0o100644)
    } else if i % 97 == 13 {
        ("sh", 0o100755)
    } else {
        (exts[i % exts.len()], 0o100644)
    };
    let content = if binary {
        (0..size).map(|_| rng.next() as u8).collect()
    } else {
        text(&mut rng, size as usize)
    };
    GenFile {
        path: format!("{dir}/file{i}.{ext}"),
        mode,
        content,
    }
}

pub struct Generated {
    pub root: PathBuf,
    pub files: usize,
    pub bytes: u64,
    /// A file that exists only untracked (it must be in every fanout worktree).
    pub untracked: String,
    /// An ignored file (it must not be in any worktree).
    pub ignored: String,
    /// A tracked file deleted in the working tree (it must not be in fanout's worktrees).
    pub deleted: String,
    /// A tracked file with unstaged changes (fanout's worktrees have the changed content).
    pub modified: String,
}

pub fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A pool of 16 threads for file-system work: creating and deleting files is latency-bound,
/// so many operations in flight overlap even on 2 cores.
pub fn io_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(16)
            .build()
            .expect("thread pool")
    })
}

/// Write `files` into `root`, 16 writes in flight.
fn write_files(root: &Path, files: &[GenFile]) {
    io_pool().install(|| {
        files.par_iter().for_each(|f| {
            let path = root.join(&f.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            if f.mode == 0o120000 {
                let target = String::from_utf8_lossy(&f.content).into_owned();
                std::os::unix::fs::symlink(target, &path).unwrap();
            } else {
                std::fs::write(&path, &f.content).unwrap();
                if f.mode == 0o100755 {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                        .unwrap();
                }
            }
        })
    });
}

/// A repository at `root` with `count` generated files (plus `.gitignore`, two symlinks and
/// `extra`), committed; with `dirty`, plus local changes of every kind.
pub fn generate(root: &Path, count: usize, extra: Vec<GenFile>, dirty: bool) -> Generated {
    std::fs::create_dir_all(root).unwrap();
    let mut files: Vec<GenFile> = (0..count).into_par_iter().map(|i| file(i, count)).collect();
    files.push(GenFile {
        path: ".gitignore".into(),
        mode: 0o100644,
        content: b"*.log\n/build/\n".to_vec(),
    });
    let first_dir = files[0].path.rsplit_once('/').unwrap().0.to_string();
    let first_name = files[0].path.rsplit_once('/').unwrap().1.to_string();
    files.push(GenFile {
        path: format!("{first_dir}/link-to-first"),
        mode: 0o120000,
        content: first_name.into_bytes(),
    });
    files.push(GenFile {
        path: "docs-link".into(),
        mode: 0o120000,
        content: first_dir.clone().into_bytes(),
    });
    files.extend(extra);
    write_files(root, &files);
    let bytes = files.iter().map(|f| f.content.len() as u64).sum();

    git(root, &["init", "-q", "-b", "main"]);
    for (k, v) in [
        ("user.name", "Bench"),
        ("user.email", "bench@example.com"),
        ("gc.auto", "0"),
    ] {
        git(root, &["config", k, v]);
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["-c", "core.compression=1", "fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("git fast-import");
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());
        for (i, f) in files.iter().enumerate() {
            write!(w, "blob\nmark :{}\ndata {}\n", i + 1, f.content.len()).unwrap();
            w.write_all(&f.content).unwrap();
            w.write_all(b"\n").unwrap();
        }
        let msg = format!("{} generated files\n", files.len());
        write!(
            w,
            "commit refs/heads/main\nauthor Bench <bench@example.com> 1700000000 +0000\n\
             committer Bench <bench@example.com> 1700000000 +0000\ndata {}\n{msg}",
            msg.len()
        )
        .unwrap();
        for (i, f) in files.iter().enumerate() {
            writeln!(w, "M {:o} :{} {}", f.mode, i + 1, f.path).unwrap();
        }
        w.flush().unwrap();
    }
    assert!(child.wait().unwrap().success(), "git fast-import failed");
    // The index from HEAD, refreshed with the files' stat data, as after a clone.
    git(root, &["reset", "-q"]);

    let pick = |k: usize| files[(k * 7919) % count].path.clone();
    let mut g = Generated {
        root: root.to_path_buf(),
        files: files.len(),
        bytes,
        untracked: "scratch/notes0.md".into(),
        ignored: "debug.log".into(),
        deleted: String::new(),
        modified: String::new(),
    };
    if dirty {
        for k in 1..=5 {
            let p = root.join(pick(k));
            let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
            writeln!(f, "// local edit {k}, not committed").unwrap();
        }
        g.modified = pick(1);
        let staged = pick(6);
        std::fs::write(root.join(&staged), b"staged rewrite\n").unwrap();
        git(root, &["add", "--", &staged]);
        g.deleted = pick(7);
        std::fs::remove_file(root.join(&g.deleted)).unwrap();
        std::fs::create_dir_all(root.join("scratch")).unwrap();
        for k in 0..5 {
            std::fs::write(
                root.join(format!("scratch/notes{k}.md")),
                text(&mut Rng::new(k), 3000),
            )
            .unwrap();
        }
        std::fs::write(root.join("NEW_FILE.rs"), b"fn new_file() {}\n").unwrap();
        std::fs::create_dir_all(root.join("build")).unwrap();
        std::fs::write(root.join("build/out.o"), vec![0u8; 10_000]).unwrap();
        std::fs::write(root.join("debug.log"), b"ignored\n").unwrap();
    }
    // Settle the index (racily clean entries) as any git command the user ran would.
    git(root, &["status", "--porcelain"]);
    g
}

/// Remove a folder tree, its folders two levels down in parallel (deleting many files is
/// slow on disk).
pub fn remove_tree(path: &Path) {
    let mut level: Vec<PathBuf> = vec![path.to_path_buf()];
    for _ in 0..3 {
        level = level
            .iter()
            .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
            .map(|e| e.path())
            .filter(|p| p.is_dir() && !p.is_symlink())
            .collect();
    }
    io_pool().install(|| {
        level.par_iter().for_each(|p| {
            let _ = std::fs::remove_dir_all(p);
        })
    });
    let _ = std::fs::remove_dir_all(path);
}
