//! A running attempt's disk use, in `fanout status` while it runs (the supervisor's watchdog
//! measures the worktree now and then), not only once it has finished.

use crate::common::cli::wait_for;
use crate::lib_repo;
use std::time::Duration;

#[test]
fn a_running_attempt_shows_its_disk_use() {
    let env = lib_repo();
    let release = env.base().join("release-disk");
    // An agent that writes 4 MB into its worktree, then waits to be released.
    let script = format!(
        "head -c 4000000 /dev/zero > big.bin && while [ ! -e '{}' ]; do sleep 0.05; done",
        release.display()
    );
    env.write_config(&format!(
        "attempts = 1\nagents = [\"big\"]\n\n[agent.big]\ncommand = [\"sh\", \"-c\", {}]\n",
        serde_json::to_string(&script).unwrap()
    ));
    let (fanout, attempts) = env.try_task("src/lib.rs", 2, &[]);
    env.wait_agent_running(&fanout, 1);
    let running = env.wait_status("the running attempt's disk use", |s| {
        let a = &s["fanouts"][0]["attempts"][0];
        a["state"] == "running" && a["disk_bytes"].as_u64().is_some_and(|b| b >= 4_000_000)
    });
    let bytes = running["fanouts"][0]["attempts"][0]["disk_bytes"]
        .as_u64()
        .unwrap();
    // The table shows it on the attempt's row too.
    let table = env.ok(&["status"]);
    let row = table
        .lines()
        .find(|l| l.contains(&attempts[0]))
        .unwrap_or_else(|| panic!("no row for {}:\n{table}", attempts[0]));
    assert!(row.contains(" MB"), "{row}");
    assert!(row.contains("running"), "{row}");

    std::fs::write(&release, "").unwrap();
    let done = wait_for("the attempt to finish", Duration::from_secs(60), || {
        let a = env.attempt(&attempts[0]);
        (a["state"] != "running" && a["state"] != "queued").then_some(a)
    });
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert!(done["disk_bytes"].as_u64().unwrap() >= bytes);
}
