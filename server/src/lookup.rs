//! Resolving what the user typed (a unique prefix) to an attempt or a whole fanout.

use crate::error::{Error, Result};
use crate::state::{AttemptRecord, FanoutRecord, StateDir};

pub enum Target {
    Attempt(Box<AttemptRecord>),
    Fanout(FanoutRecord, Vec<AttemptRecord>),
}

/// An exact id wins; otherwise the prefix must match exactly one attempt, or the attempts
/// of exactly one fanout.
pub fn resolve(states: &StateDir, query: &str) -> Result<Target> {
    let query = query.trim();
    if query.is_empty() {
        return Err(Error::Invalid("an attempt or fanout id is required".into()));
    }
    let all = states.load_all()?;
    for (f, attempts) in &all {
        if f.id == query {
            return Ok(Target::Fanout(f.clone(), attempts.clone()));
        }
        if let Some(a) = attempts.iter().find(|a| a.id == query) {
            return Ok(Target::Attempt(Box::new(a.clone())));
        }
    }
    let attempts: Vec<&AttemptRecord> = all
        .iter()
        .flat_map(|(_, a)| a)
        .filter(|a| a.id.starts_with(query))
        .collect();
    let fanouts: Vec<&(FanoutRecord, Vec<AttemptRecord>)> = all
        .iter()
        .filter(|(f, _)| f.id.starts_with(query))
        .collect();
    match (fanouts.as_slice(), attempts.as_slice()) {
        (_, [one]) => Ok(Target::Attempt(Box::new((*one).clone()))),
        ([(f, a)], _) => Ok(Target::Fanout(f.clone(), a.clone())),
        ([], []) => Err(Error::UnknownId(query.to_string())),
        (fs, atts) => {
            let mut names: Vec<&str> = fs.iter().map(|(f, _)| f.id.as_str()).collect();
            if names.is_empty() {
                names = atts.iter().map(|a| a.id.as_str()).collect();
            }
            Err(Error::AmbiguousId(query.to_string(), names.join(", ")))
        }
    }
}

/// Like `resolve`, but one attempt is required (a fanout with a single attempt is fine).
pub fn resolve_attempt(states: &StateDir, query: &str) -> Result<AttemptRecord> {
    match resolve(states, query)? {
        Target::Attempt(a) => Ok(*a),
        Target::Fanout(_, mut attempts) if attempts.len() == 1 => Ok(attempts.remove(0)),
        Target::Fanout(_, attempts) => Err(Error::NotAnAttempt(
            query.to_string(),
            attempts
                .iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}
