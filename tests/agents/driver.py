#!/usr/bin/env python3
"""fanout with real agent CLIs against the scripted model server (model_server.py).

For each CLI: a fresh git repository with a TODO, its own HOME / XDG folders (nothing is
written to the real home), only environment variables and config files pointing the CLI at
the server; then the real `fanout` binary: `fanout try --file app.py --line 4 -n 2 --agent
NAME` with the built-in profile, waiting for both attempts
(polling `fanout status --json`, with a deadline), and the checks:

  - both attempts succeeded (exit 0);
  - `fanout diff` holds exactly the agent's edit of the TODO line, nothing else;
  - the tokens in `fanout status --json` equal what the server reported for the requests the
    CLI counts (see COUNTED), per attempt; the cost equals what the CLI printed (none where it
    prints none or 0); the last activity is the model's final text;
  - where the CLI resumes its own session (claude -c, codex exec resume --last, qwen -c),
    `fanout continue` sends the earlier conversation along (the server sees fanout's first
    prompt again), edits once more, and the tokens are the attempt's runs counted once.

Usage: driver.py --fanout BIN --agents DIR --work DIR [--record DIR] [--keep] [CLI ...]
Ends with "N passed, N failed[, N known]"; exits non-zero if a check failed. A check listed in
KNOWN (a fanout problem found and reported, not fixed here) is reported as "KNOWN" and does
not fail the run; should it pass, that fails the run, so that the entry gets removed.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

TASK_LINE = "# TODO: greet the user politely"
DONE_LINE = "# DONE: greet the user politely (scripted model)"
FOLLOWED_LINE = "# DONE: greet the user politely (scripted model, followed up)"
FINAL_TEXT = "Done: I replaced the TODO line in app.py."
FOLLOW_TEXT = "Done: I followed up on the TODO line in app.py."
APP_PY = 'def greet(name):\n    return "hi " + name\n\n' + TASK_LINE + "\n"
FILES = {"app.py": APP_PY, ".gitignore": "__pycache__/\n", "README.md": "A tiny app.\n"}

# Checks that fail because of a fanout problem outside this suite's files, reported and left
# for its owners: (cli, check) -> why.
KNOWN = {}


class Suite:
    def __init__(self, args):
        self.args = args
        self.passed = 0
        self.failed = 0
        self.known = 0
        self.failures = []

    def check(self, cli, name, ok, detail=""):
        key = (cli, name)
        if key in KNOWN:
            if ok:
                self.failed += 1
                self.failures.append(f"{cli}: {name}")
                print(f"FAIL {cli}: {name}: passes now; remove it from KNOWN ({KNOWN[key]})")
            else:
                self.known += 1
                print(f"KNOWN {cli}: {name}: {KNOWN[key]}\n      {detail}")
            return ok
        if ok:
            self.passed += 1
            print(f"ok   {cli}: {name}")
        else:
            self.failed += 1
            self.failures.append(f"{cli}: {name}")
            print(f"FAIL {cli}: {name}\n      {detail}")
        return ok


def wait_for(what, timeout, check, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Server:
    """The model server as a child process; it also stops on its own when we are gone."""

    def __init__(self, work):
        self.dir = tempfile.mkdtemp(prefix="server-", dir=work)
        self.log = os.path.join(self.dir, "requests.jsonl")
        port_file = os.path.join(self.dir, "port")
        self.err = open(os.path.join(self.dir, "stderr.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(__file__), "model_server.py"),
             "--port-file", port_file, "--log", self.log, "--idle-timeout", "300",
             "--parent-pid", str(os.getpid())],
            stdout=subprocess.DEVNULL, stderr=self.err, stdin=subprocess.DEVNULL)
        wait_for("the model server's port", 20,
                 lambda: os.path.exists(port_file) or self.proc.poll() is not None)
        if self.proc.poll() is not None:
            raise RuntimeError(f"the model server exited with {self.proc.returncode} (see {self.dir})")
        with open(port_file) as f:
            self.port = int(f.read())
        self.url = f"http://127.0.0.1:{self.port}"

    def entries(self, start=0):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(line) for line in f.readlines()[start:]]

    def count(self):
        return len(self.entries())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ---------------------------------------------------------------------------------------------
# Pointing each CLI at the server: only environment variables and config files.


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def setup_claude(home, url, env):
    env.update({
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "sk-ant-scripted-test",
        # No telemetry, error reports or update checks: nothing but the model is reachable.
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    })


def setup_codex(home, url, env):
    # Codex ignores OPENAI_BASE_URL: a provider of its own in $CODEX_HOME/config.toml.
    # "gpt-5.5" is a model Codex knows, so it offers its apply_patch tool (an unknown model
    # gets shell tools only).
    codex_home = os.path.join(home, ".codex")
    write(os.path.join(codex_home, "config.toml"), (
        'model = "gpt-5.5"\nmodel_provider = "scripted"\n\n'
        "[model_providers.scripted]\n"
        'name = "Scripted model"\n'
        f'base_url = "{url}/v1"\n'
        'env_key = "SCRIPTED_API_KEY"\n'
        'wire_api = "responses"\n'
    ))
    env.update({"CODEX_HOME": codex_home, "SCRIPTED_API_KEY": "scripted-test"})


def setup_gemini(home, url, env):
    write(os.path.join(home, ".gemini", "settings.json"), json.dumps({
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
    }))
    env.update({"GEMINI_API_KEY": "scripted-test", "GOOGLE_GEMINI_BASE_URL": url})


def setup_opencode(home, url, env, config_home):
    write(os.path.join(config_home, "opencode", "opencode.json"), json.dumps({
        "$schema": "https://opencode.ai/config.json",
        "model": "scripted/scripted-model",
        "autoupdate": False,
        "share": "disabled",
        "provider": {"scripted": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Scripted model",
            "options": {"baseURL": f"{url}/v1", "apiKey": "scripted-test"},
            "models": {"scripted-model": {"name": "Scripted model", "tool_call": True}},
        }},
    }, indent=1))
    env.update({"OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_AUTOUPDATE": "1"})


def setup_aider(home, url, env):
    env.update({
        "OPENAI_API_BASE": f"{url}/v1",
        "OPENAI_API_KEY": "scripted-test",
        # Streaming, aider counts tokens itself (its own estimate); not streaming, it prints
        # the usage the server reported, which is what this suite compares.
        "AIDER_STREAM": "false",
        "AIDER_CHECK_UPDATE": "false",
        "AIDER_ANALYTICS": "false",
        "AIDER_SHOW_RELEASE_NOTES": "false",
        # litellm's price list from its package, not from the network.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    })


def setup_qwen(home, url, env):
    write(os.path.join(home, ".qwen", "settings.json"), json.dumps({
        "security": {"auth": {"selectedType": "openai"}},
        "privacy": {"usageStatisticsEnabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
    }))
    env.update({"OPENAI_API_KEY": "scripted-test", "OPENAI_BASE_URL": f"{url}/v1",
                "OPENAI_MODEL": "scripted-model"})


def setup_copilot(home, url, env):
    # Its own provider (BYOK, an OpenAI Chat Completions endpoint) and offline mode: no GitHub
    # sign-in, nothing but the model is contacted.
    env.update({"COPILOT_PROVIDER_BASE_URL": f"{url}/v1", "COPILOT_PROVIDER_TYPE": "openai",
                "COPILOT_PROVIDER_API_KEY": "scripted-test", "COPILOT_MODEL": "scripted-model",
                "COPILOT_OFFLINE": "true"})


# With no model reachable (a port nothing listens on), claude retries its API for minutes and
# codex reconnects forever: fanout shows them as stalled, and their `timeout` stops them.
OFFLINE_TIMEOUT = 20
OFFLINE_SAYS = {"claude": "API retry", "codex": "Reconnecting"}


def offline_profiles(home):
    dead = "http://127.0.0.1:9"
    codex_home = os.path.join(home, ".codex-offline")
    write(os.path.join(codex_home, "config.toml"), (
        'model = "gpt-5.5"\nmodel_provider = "scripted"\n\n'
        "[model_providers.scripted]\n"
        'name = "Unreachable model"\n'
        f'base_url = "{dead}/v1"\n'
        'env_key = "SCRIPTED_API_KEY"\n'
        'wire_api = "responses"\n'
    ))
    return (
        f'\n[agent.claude-offline]\nextends = "claude"\ntimeout = "{OFFLINE_TIMEOUT}s"\n'
        f'env = {{ ANTHROPIC_BASE_URL = "{dead}" }}\n'
        f'\n[agent.codex-offline]\nextends = "codex"\ntimeout = "{OFFLINE_TIMEOUT}s"\n'
        f'env = {{ CODEX_HOME = "{codex_home}" }}\n'
    )


def offline(suite, case, cli):
    """`fanout try` with the model unreachable: status says stalled with the CLI's retry, and
    the profile's timeout stops the agent, the state saying why."""
    check = suite.check
    out = case.fanout("try", "--file", "app.py", "--line", "4", "-n", "1", "--agent",
                      f"{cli}-offline", "--json")
    if not check(cli, "offline try", out.returncode == 0, out.stderr.strip()):
        return
    attempt = json.loads(out.stdout)["attempts"][0]
    seen = set()

    def finished():
        a = {x["id"]: x for x in case.attempts()}[attempt]
        if a.get("stalled"):
            seen.add(a["stalled"])
        return a if a["state"] not in ("queued", "running") else None
    a = wait_for(f"{cli}-offline to stop", OFFLINE_TIMEOUT + 60, finished, interval=0.5)
    check(cli, "offline shows stalled", any(f"stalled ({OFFLINE_SAYS[cli]}" in t for t in seen),
          f"status showed {sorted(seen)}")
    check(cli, "offline timeout stops it",
          a["state"] == "cancelled" and f"timeout of {OFFLINE_TIMEOUT}s" in (a.get("error") or ""),
          f"{a['state']}: {a.get('error')}; log: {case.log_of(attempt).splitlines()[-6:]}")


def all_requests(e):
    return True


def not_side(e):
    # OpenCode's stream reports the steps of its agent, not its title request; aider's usage
    # lines are its main model's, not the weak model's commit message. The server marks such
    # side requests (no tools, not aider's edit format).
    return not e.get("side")


CLIS = {
    # name: (setup, resumes its session in `continue`, which requests its stream counts)
    "claude": (setup_claude, True, all_requests),
    "codex": (setup_codex, True, all_requests),
    "gemini": (setup_gemini, False, all_requests),
    "opencode": (setup_opencode, False, not_side),
    "aider": (setup_aider, False, not_side),
    "qwen": (setup_qwen, True, all_requests),
    "copilot": (setup_copilot, True, all_requests),
}


# ---------------------------------------------------------------------------------------------


class Case:
    """One CLI's repository, environment and fanout runs."""

    def __init__(self, suite, server, cli):
        self.suite, self.server, self.cli = suite, server, cli
        self.root = os.path.realpath(tempfile.mkdtemp(prefix=f"{cli}-", dir=suite.args.work))
        self.home = os.path.join(self.root, "home")
        self.config = os.path.join(self.root, "config")
        self.data = os.path.join(self.root, "data")
        self.repo = os.path.join(self.root, "repo")
        for d in (self.home, self.config, self.data, self.repo):
            os.makedirs(d)
        a = suite.args
        path = [os.path.join(a.agents, "npm", "node_modules", ".bin"),
                os.path.join(a.agents, "aider-venv", "bin"), "/usr/local/bin", "/usr/bin", "/bin"]
        self.env = {
            "PATH": ":".join(path),
            "HOME": self.home,
            "XDG_CONFIG_HOME": self.config,
            "XDG_DATA_HOME": self.data,
            "XDG_CACHE_HOME": os.path.join(self.root, "cache"),
            "XDG_STATE_HOME": os.path.join(self.root, "state"),
            "TMPDIR": os.path.join(self.root, "tmp"),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
        }
        os.makedirs(self.env["TMPDIR"])
        setup = CLIS[cli][0]
        if cli == "opencode":
            setup(self.home, server.url, self.env, self.config)
        else:
            setup(self.home, server.url, self.env)
        write(os.path.join(self.config, "fanout", "config.toml"),
              "stagger_ms = 0\n" + offline_profiles(self.home))
        for name, text in FILES.items():
            write(os.path.join(self.repo, name), text)
        self.git("init", "-q", "-b", "main")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "initial")

    def run(self, argv, cwd=None, timeout=120):
        return subprocess.run(argv, cwd=cwd or self.repo, env=self.env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def git(self, *args):
        out = self.run(["git", *args])
        if out.returncode != 0:
            raise RuntimeError(f"git {args} failed: {out.stderr}")
        return out.stdout

    def fanout(self, *args):
        return self.run([self.suite.args.fanout, *args])

    def status(self):
        out = self.fanout("status", "--json")
        if out.returncode != 0:
            raise RuntimeError(f"fanout status failed: {out.stderr}")
        return json.loads(out.stdout)

    def attempts(self):
        return [a for f in self.status()["fanouts"] for a in f["attempts"]]

    def wait_finished(self, timeout):
        def done():
            atts = self.attempts()
            return atts if atts and all(a["state"] not in ("queued", "running") for a in atts) else None
        return wait_for(f"{self.cli}'s attempts to finish", timeout, done)

    def log_of(self, attempt_id):
        common = os.path.join(self.repo, ".git")
        path = os.path.join(common, "fanout", "logs", f"{attempt_id}.log")
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()


def agent_output(log, run=1):
    """The agent's own lines of run `run` in an attempt log. fanout's own lines start with
    `[fanout] `; its `$ argv` line quotes the arguments shell-style, and a quoted prompt may
    go on over several lines."""
    runs, cur = [], None
    quoted = False
    for line in log.splitlines(keepends=True):
        if quoted or line.startswith("[fanout] $ "):
            if not quoted:
                cur = []
                runs.append(cur)
            quoted = still_quoted(line, quoted)
        elif line.startswith("[fanout] "):
            continue
        elif cur is not None:
            cur.append(line)
    return "".join(runs[run - 1]) if len(runs) >= run else ""


def still_quoted(line, quoted):
    """Whether a shell-quoted text is inside '...' at the end of `line`."""
    escaped = False
    for c in line:
        if escaped:
            escaped = False
        elif c == "'":
            quoted = not quoted
        elif c == "\\" and not quoted:
            escaped = True
    return quoted


def diff_lines(diff_text):
    """(files, removed, added) of a unified diff."""
    files = re.findall(r"^\+\+\+ (?:b/)?(.+)$", diff_text, re.M)
    files += [f for f in re.findall(r"^--- (?:a/)?(.+)$", diff_text, re.M) if f not in files and f != "/dev/null"]
    files = sorted(set(f for f in files if f != "/dev/null"))
    removed = [l[1:] for l in diff_text.splitlines() if l.startswith("-") and not l.startswith("---")]
    added = [l[1:] for l in diff_text.splitlines() if l.startswith("+") and not l.startswith("+++")]
    return files, removed, added


def expected_cost(cli, output):
    """The cost the CLI itself printed for one run, if it prints one (None if not, or 0)."""
    if cli == "claude":
        costs = [json.loads(l).get("total_cost_usd") for l in output.splitlines()
                 if l.startswith("{") and '"type":"result"' in l]
        return costs[-1] if costs and costs[-1] else None
    if cli == "aider":
        costs = [float(c) for c in re.findall(r"Cost: \$([0-9.]+) message", output)]
        return round(sum(costs), 6) if sum(costs) else None
    return None


def attribute(entries, worktrees):
    """Server log entries per attempt, by the working directory the CLI told the model."""
    per = {w: [] for w in worktrees}
    loose = []
    for e in entries:
        cwd = e.get("cwd")
        cwd = os.path.realpath(cwd) if cwd else None
        if cwd in per:
            per[cwd].append(e)
        else:
            loose.append(e)
    return per, loose


def run_case(suite, server, cli, resumes, counted):
    case = Case(suite, server, cli)
    check = suite.check
    print(f"# {cli}: {case.root}")
    start = server.count()
    t0 = time.monotonic()
    out = case.fanout("try", "--file", "app.py", "--line", "4", "-n", "2", "--agent", cli, "--json")
    if not check(cli, "try", out.returncode == 0, out.stderr.strip()):
        return case
    started = json.loads(out.stdout)
    atts = case.wait_finished(240)
    print(f"# {cli}: both attempts finished in {time.monotonic() - t0:.1f}s")
    by_id = {a["id"]: a for a in atts}
    ids = started["attempts"]
    logs = {i: case.log_of(i) for i in ids}
    states = {i: (by_id[i]["state"], by_id[i].get("exit_code")) for i in ids}
    check(cli, "both attempts succeed", all(s == ("succeeded", 0) for s in states.values()),
          f"{states}; last log lines:\n" + "\n".join(
              f"{i}: " + "\n    ".join(logs[i].splitlines()[-15:]) for i in ids))

    # The diff: exactly the agent's edit.
    for i in ids:
        d = case.fanout("diff", i)
        files, removed, added = diff_lines(d.stdout)
        ok = d.returncode == 0 and files == ["app.py"] and removed == [TASK_LINE] and added == [DONE_LINE]
        check(cli, "diff", ok, f"{i}: files {files}, removed {removed}, added {added}\n{d.stdout[-1500:]}{d.stderr}")

    if cli == "aider":
        # aider commits its edit on the attempt branch itself: that commit stays part of the
        # attempt (the diff above is measured from the snapshot, through it).
        snapshot = [f["snapshot"] for f in case.status()["fanouts"] if f["id"] == started["fanout"]][0]
        for i in ids:
            log = case.run(["git", "log", "--format=%an|%s", f"{snapshot}..{by_id[i]['branch']}"])
            # Its commit message is what the server answered its weak-model request.
            check(cli, "its commits stay on the attempt branch", "|Scripted reply." in log.stdout,
                  f"{i}: {by_id[i]['branch']}: {log.stdout}{log.stderr}")

    # What the agent left in its worktree besides its change (ignored files are not part of
    # the attempt, but show what the CLI writes there).
    for i in ids[:1]:
        wt = by_id[i]["worktree"]
        if os.path.isdir(wt):
            left = case.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=wt)
            extra = [l for l in left.stdout.splitlines() if not l.endswith(" app.py")]
            print(f"# {cli}: left in the worktree of {i}: {extra or 'nothing else'}")

    # Tokens, cost, activity.
    entries = [e for e in server.entries(start) if e.get("api") not in ("other",)]
    worktrees = {os.path.realpath(by_id[i]["worktree"]): i for i in ids}
    per, loose = attribute([e for e in entries if counted(e)], worktrees)
    shown = {i: (by_id[i].get("activity") or {}) for i in ids}
    if loose:
        # Requests that name no worktree (gemini's routing question): only the sum can be
        # compared.
        total_shown = sum(shown[i].get("tokens") or 0 for i in ids)
        total_server = sum(e["total_tokens"] for e in entries if counted(e) and "total_tokens" in e)
        check(cli, "tokens", total_shown == total_server,
              f"status shows {total_shown} in all, the server reported {total_server}")
    else:
        for w, i in worktrees.items():
            server_total = sum(e["total_tokens"] for e in per[w])
            check(cli, "tokens", shown[i].get("tokens") == server_total,
                  f"{i}: status shows {shown[i].get('tokens')}, the server reported {server_total} "
                  f"over {len(per[w])} requests")
    for i in ids:
        want = expected_cost(cli, agent_output(logs[i]))
        got = shown[i].get("cost_usd")
        ok = (got is None and want is None) or (got is not None and want is not None and abs(got - want) < 1e-9)
        check(cli, "cost", ok, f"{i}: status shows {got}, the CLI printed {want}")
        if cli == "aider":
            # A plain-text agent: its last line, which is aider's commit of the edit.
            check(cli, "activity", (shown[i].get("last") or "").startswith("Commit "),
                  f"{i}: status shows {shown[i].get('last')!r}, aider's last line was a commit")
        else:
            check(cli, "activity", shown[i].get("last") == FINAL_TEXT,
                  f"{i}: status shows {shown[i].get('last')!r}, the model's last text was {FINAL_TEXT!r}")

    if suite.args.record and ids:
        record(suite.args.record, cli, agent_output(logs[ids[0]]))

    # A follow-up in the agent's own session.
    if resumes and states[ids[0]] == ("succeeded", 0):
        follow(suite, server, case, cli, ids[0], by_id[ids[0]], counted)
    if cli in OFFLINE_SAYS:
        offline(suite, case, cli)
    return case


def follow(suite, server, case, cli, attempt, before, counted):
    check = suite.check
    start = server.count()
    out = case.fanout("continue", attempt, "--prompt", "Mark the line as followed up.")
    if not check(cli, "continue", out.returncode == 0, out.stderr.strip()):
        return
    after = {a["id"]: a for a in case.wait_finished(240)}[attempt]
    log = case.log_of(attempt)
    check(cli, "continue succeeds", (after["state"], after.get("exit_code")) == ("succeeded", 0),
          f"{after['state']} {after.get('exit_code')}: {log.splitlines()[-8:]}")
    entries = [e for e in server.entries(start) if e.get("api") != "other"]
    wt = os.path.realpath(after["worktree"])
    mine = [e for e in entries if e.get("follow_up") and (not e.get("cwd") or os.path.realpath(e["cwd"]) == wt)]
    check(cli, "continue resumes the session",
          bool(mine) and all(e.get("resumed") for e in mine),
          f"follow-up requests: {[(e.get('n'), e.get('resumed'), e.get('events')) for e in mine]}")
    d = case.fanout("diff", attempt)
    files, removed, added = diff_lines(d.stdout)
    check(cli, "continue diff", files == ["app.py"] and removed == [TASK_LINE] and added == [FOLLOWED_LINE],
          f"files {files}, removed {removed}, added {added}")
    shown = after.get("activity") or {}
    check(cli, "continue activity", shown.get("last") == FOLLOW_TEXT, f"{shown}")
    # Tokens: every run of the attempt, counted once.
    run1 = (before.get("activity") or {}).get("tokens") or 0
    run2 = sum(e["total_tokens"] for e in entries if counted(e) and e.get("cwd")
               and os.path.realpath(e["cwd"]) == wt)
    check(cli, "continue tokens", shown.get("tokens") == run1 + run2,
          f"status shows {shown.get('tokens')}; first run {run1} + follow-up {run2} = {run1 + run2}")
    if suite.args.record:
        record(suite.args.record, cli + "-continue", agent_output(log, 2))


def record(folder, name, output):
    ext = "txt" if name.startswith("aider") else "jsonl"
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.{ext}")
    with open(path, "w", encoding="utf-8") as f:
        f.write(output)
    print(f"# recorded {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fanout", required=True)
    ap.add_argument("--agents", required=True, help="where the CLIs are installed")
    ap.add_argument("--work", required=True, help="a folder for this run's temp files")
    ap.add_argument("--record", help="write each CLI's stream (attempt 1) into this folder")
    ap.add_argument("--keep", action="store_true", help="keep the repositories and homes")
    ap.add_argument("clis", nargs="*")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    suite = Suite(args)
    names = args.clis or list(CLIS)
    server = Server(args.work)
    print(f"# model server on {server.url}, log {server.log}")
    cases = []
    try:
        for cli in names:
            setup, resumes, counted = CLIS[cli]
            t0 = time.monotonic()
            try:
                cases.append(run_case(suite, server, cli, resumes, counted))
            except (TimeoutError, RuntimeError, subprocess.TimeoutExpired, OSError, ValueError) as e:
                suite.check(cli, "ran to the end", False, f"{type(e).__name__}: {e}")
            print(f"# {cli}: {time.monotonic() - t0:.1f}s")
    finally:
        for case in cases if not args.keep else []:
            # Discard every fanout: no agent, supervisor or worktree outlives the suite.
            try:
                ids = [f["id"] for f in case.status()["fanouts"]]
                if ids:
                    case.fanout("discard", *ids)
            except (RuntimeError, OSError, ValueError):
                pass
        server.stop()
        if not args.keep:
            for case in cases:
                shutil.rmtree(case.root, ignore_errors=True)
    if suite.failures:
        print("failed: " + "; ".join(suite.failures))
    known = f", {suite.known} known" if suite.known else ""
    print(f"{suite.passed} passed, {suite.failed} failed{known}")
    return 1 if suite.failed else 0


if __name__ == "__main__":
    sys.exit(main())
