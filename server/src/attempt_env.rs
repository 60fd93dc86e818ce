//! An attempt's environment beyond its worktree: ignored files copied in, a block of ports of
//! its own, and the repository's `env` with `{attempt}` and `{port}` expanded.

use crate::error::{Error, IoContext, Result};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;

/// Ports are handed out from here up; far from the usual dev-server ports and below the
/// kernel's ephemeral range.
const PORT_BASE: u32 = 20_000;
const PORT_SPAN: u32 = 12_000;
/// Attempts per fanout that get distinct blocks by construction.
const BLOCKS_PER_FANOUT: u32 = 64;
/// The most ports one attempt may ask for: every attempt's block must fit below 65536.
pub const MAX_PORTS_PER_ATTEMPT: u16 = ((65_536 - PORT_BASE) / BLOCKS_PER_FANOUT) as u16;

/// The first port of attempt `n`'s block of `count` ports: deterministic (from the fanout id
/// and the attempt number, so attempts of one fanout never share), then moved along the same
/// deterministic sequence until every port of the block is free right now.
pub fn allocate_ports(fanout: &str, n: usize, count: u16) -> Result<u16> {
    if count == 0 || count > MAX_PORTS_PER_ATTEMPT {
        return Err(Error::Invalid(format!(
            "ports = {count}: each attempt can have 1 to {MAX_PORTS_PER_ATTEMPT} ports (its block must fit below 65536)"
        )));
    }
    let count = count as u32;
    let region = BLOCKS_PER_FANOUT * count;
    let regions = (PORT_SPAN / region).max(1);
    let seed = fanout
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    for probe in 0..regions.min(200) {
        let start = PORT_BASE
            + ((seed + probe) % regions) * region
            + (n as u32 - 1) % BLOCKS_PER_FANOUT * count;
        if (start..start + count).all(port_free) {
            return Ok(start as u16);
        }
    }
    Err(Error::Invalid(format!(
        "no block of {count} free ports for attempt {n}"
    )))
}

fn port_free(port: u32) -> bool {
    TcpListener::bind(("127.0.0.1", port as u16)).is_ok()
}

/// Expand `{attempt}` and `{port}` in the repository's env values.
pub fn expand_env(
    templates: &BTreeMap<String, String>,
    attempt: &str,
    port: Option<u16>,
) -> BTreeMap<String, String> {
    let port = port.map(|p| p.to_string()).unwrap_or_default();
    templates
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.replace("{attempt}", attempt).replace("{port}", &port),
            )
        })
        .collect()
}

/// Copy the files under `root` matching any of `globs` (paths relative to root, e.g. `.env`,
/// `config/*.local.json`, `**/.env`) into the same places under `worktree`. Copies, never
/// links, so an attempt cannot change the user's files through them. Returns what was copied.
pub fn copy_matching(root: &Path, worktree: &Path, globs: &[String]) -> Result<Vec<String>> {
    if globs.is_empty() {
        return Ok(vec![]);
    }
    let mut builder = globset::GlobSetBuilder::new();
    for g in globs {
        let glob = globset::GlobBuilder::new(g)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::Invalid(format!("bad copy glob '{g}': {e}")))?;
        builder.add(glob);
    }
    let set = builder.build().map_err(|e| Error::Invalid(e.to_string()))?;
    let mut copied = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git");
    for entry in walker.flatten() {
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        if !set.is_match(rel) {
            continue;
        }
        let target = worktree.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).at(parent)?;
        }
        std::fs::copy(entry.path(), &target).at(&target)?;
        copied.push(rel.to_string_lossy().into_owned());
    }
    copied.sort();
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_of_one_fanout_get_distinct_free_blocks() {
        let a = allocate_ports("abc123", 1, 3).unwrap();
        let b = allocate_ports("abc123", 2, 3).unwrap();
        assert!(a + 3 <= b || b + 3 <= a, "{a} {b}");
        assert_eq!(allocate_ports("abc123", 1, 3).unwrap(), a, "deterministic");
    }

    #[test]
    fn every_block_fits_below_65536() {
        let max = MAX_PORTS_PER_ATTEMPT;
        for n in [1, 2, 63, 64, 65] {
            if let Ok(p) = allocate_ports("ffffff", n, max) {
                assert!(p as u32 + max as u32 <= 65_536, "{n}: {p}");
            }
        }
        assert!(allocate_ports("abc", 1, max + 1).is_err());
    }

    #[test]
    fn expands_env() {
        let mut t = BTreeMap::new();
        t.insert(
            "URL".to_string(),
            "http://localhost:{port}/{attempt}".to_string(),
        );
        assert_eq!(
            expand_env(&t, "f-1", Some(20001))["URL"],
            "http://localhost:20001/f-1"
        );
    }
}
