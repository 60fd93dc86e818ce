// End-to-end test of the fanout VS Code extension in a real VS Code: code-server (VS Code 1.100
// in a browser) with the packaged .vsix installed, driven by Playwright in Debian's Chromium.
// The story: open a repository with a TODO, see the lens, run "Fanout: Try N Approaches" with a
// fake agent, wait for the status bar to count the attempts done, open a diff, take a hunk of
// attempt #1 and one of #2 together from the Fanout tree view and undo that, accept, check the
// file's text, take a screenshot. Then a task list: click `Run all 2 tasks` on a TASKS.md of two
// independent items (the team fixture agent writes each item's file), wait for both items'
// `ready to integrate` lenses and the run in the Fanout view, run "Fanout: Integrate" (each
// item's outcome in the server's words), accept the integration from its lens, see the boxes
// checked in the buffer, and start a lead from the `Plan tasks…` lens with a goal typed in.
//
// Run by tests/vscode/run, which provides (environment):
//   CODE_SERVER   the code-server executable
//   FANOUT_VSIX   the packaged extension
//   FANOUT_BIN    the fanout binary (target/debug/fanout)
//   E2E_WORK      a directory for screenshots and logs (tests/.work/vscode)
//   E2E_PGID_FILE where to write code-server's process group id, so the runner can kill it too
//
// No fixed sleeps: every wait is for a state of the page, with a timeout.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const env = (name, fallback) => {
    const v = process.env[name] ?? fallback;
    if (!v) throw new Error(`${name} is not set (run tests/vscode/run)`);
    return v;
};
const CODE_SERVER = env('CODE_SERVER');
const VSIX = env('FANOUT_VSIX');
const FANOUT_BIN = env('FANOUT_BIN', path.join(repoRoot, 'target', 'debug', 'fanout'));
const WORK = env('E2E_WORK', path.join(repoRoot, 'tests', '.work', 'vscode'));
const FAKE_AGENT = path.join(repoRoot, 'tests', 'fixtures', 'agents', 'fake-agent');
const TEAM_AGENT = path.join(repoRoot, 'tests', 'fixtures', 'agents', 'team-agent');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

// Generous for a 2-core CI machine; the happy path takes a fraction of these.
const STARTUP_MS = 90_000;
const STEP_MS = 30_000;
const ATTEMPTS_MS = 120_000;

const TASK = 'TODO: handle empty input';
const LIB_RS = `pub fn parse(input: &str) -> Vec<&str> {
    // ${TASK}
    input.split(',').collect()
}
`;
const ACCEPTED_LIB_RS = `pub fn parse(input: &str) -> Vec<&str> {
    // done by attempt 1
    input.split(',').collect()
}
`;
// The task list: two independent items, each writing its own file (the team agent's spec).
const TASKS_MD = `# Game

- [ ] Board
  Done when: board.py exists
  Touches: board.py
- [ ] Search
  Touches: search.py
`;
const TEAM_SPEC = {
    Board: { 'board.py': 'BOARD = {attempt}\n' },
    Search: { 'search.py': 'def search():\n    return {attempt}\n' },
};
// What the lead writes for the goal of `Plan tasks…`.
const PLANNED_TASKS_MD = `${TASKS_MD}- [ ] Clock\n  Touches: clock.py\n`;

let tmp; // everything of this run: home, config, data, repo, profiles
let repo;
let childEnv;
let codeServer; // the process, leader of its own process group (setsid)
let serverLog;
let context; // Playwright persistent context
let page;
let failed = false;

function log(msg) {
    process.stderr.write(`[e2e] ${msg}\n`);
}

function git(...args) {
    execFileSync('git', args, { cwd: repo, env: childEnv, stdio: 'pipe' });
}

function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

async function waitForHttp(url, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (Date.now() < deadline) {
        if (codeServer.exitCode !== null) throw new Error(`code-server exited with ${codeServer.exitCode}`);
        try {
            const res = await fetch(url);
            if (res.ok) return;
            last = `HTTP ${res.status}`;
        } catch (e) {
            last = e.message;
        }
        // Polling a port that is not open yet: there is no event to wait for.
        await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${url} did not answer within ${timeoutMs} ms (${last})`);
}

/** A step of the story; after a failed step the rest are skipped, not timed out one by one. */
function step(name, fn) {
    it(name, async (t) => {
        if (failed) {
            t.skip('an earlier step failed');
            return;
        }
        try {
            await fn();
        } catch (e) {
            failed = true;
            if (page) {
                const shot = path.join(WORK, `e2e-failure-${name.replace(/[^a-z0-9]+/gi, '-')}.png`);
                await page.screenshot({ path: shot }).catch(() => {});
                log(`screenshot of the failure: ${shot}`);
            }
            throw e;
        }
    });
}

// ---- the workbench ---------------------------------------------------------------------------

const quickInput = () => page.locator('.quick-input-widget');
const quickInputBox = () => page.locator('.quick-input-widget .quick-input-box input');
const quickRows = () => page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
const lens = (text) => page.locator('.codelens-decoration a', { hasText: text });
const statusItem = (label) => page.locator(`#workbench\\.parts\\.statusbar a.statusbar-item-label[aria-label="${label}"]`);

/** A regular expression matching exactly `text`. */
function exactly(text) {
    return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
}

/** Runs a command of the palette by its title (clicks that row: Enter could run a better match). */
async function palette(title) {
    await page.keyboard.press('F1');
    await quickInputBox().waitFor({ state: 'visible', timeout: STEP_MS });
    await page.keyboard.type(title);
    const row = quickRows().filter({ has: page.locator('.label-name', { hasText: exactly(title) }) }).first();
    await row.waitFor({ timeout: STEP_MS });
    await row.click();
}

/** Picks the row of the open quick pick that shows `text`. */
async function pickRow(text) {
    const row = quickRows().filter({ hasText: text }).first();
    await row.waitFor({ timeout: STEP_MS });
    await row.click();
}

async function openFile(name) {
    await page.keyboard.press('Control+P');
    await quickInputBox().waitFor({ state: 'visible', timeout: STEP_MS });
    await page.keyboard.type(name);
    // Rows show "lib.rs src": the base name, then the folder.
    await quickRows().filter({ hasText: path.basename(name) }).first().waitFor({ timeout: STEP_MS });
    await page.keyboard.press('Enter');
    await activeTab(path.basename(name)).waitFor({ timeout: STEP_MS });
}

/** The active editor tab, titled exactly `title` (a string), or matching it (a RegExp). */
function activeTab(title) {
    return page.locator('.tab.active .label-name', { hasText: typeof title === 'string' ? exactly(title) : title });
}

/**
 * Presses the undo or redo key in `editor` and waits for `expected` to show. The accept edited
 * two files in one edit, so VS Code may ask whether to undo it in all of them: yes.
 */
async function undoRedo(editor, key, verb, expected) {
    const everywhere = page.locator('.monaco-dialog-box .monaco-button', { hasText: new RegExp(`^${verb} in \\d+ Files$`) });
    const line = editor.locator('.view-line', { hasText: expected });
    // On a loaded machine a key press can land before the editor has focus and be lost: press
    // again (undo and redo have nothing else on their stacks here) until the text shows.
    for (let attempt = 1; ; attempt++) {
        // Focus the editor (a dialog of an earlier undo may have kept it).
        await editor.locator('.view-line', { hasText: 'collect()' }).click();
        await page.keyboard.press(key);
        const wait = attempt < 3 ? STEP_MS / 3 : STEP_MS;
        await Promise.race([everywhere.waitFor({ timeout: wait }), line.waitFor({ timeout: wait })].map((p) => p.catch(() => {})));
        if (await everywhere.isVisible()) await everywhere.click();
        try {
            await line.waitFor({ timeout: attempt < 3 ? 2000 : STEP_MS });
            return;
        } catch (e) {
            if (attempt >= 3) throw e;
        }
    }
}

/** The text of the active editor as shown (visible lines; the files here are short). */
async function editorText(editor) {
    const lines = await editor.locator('.view-lines .view-line').evaluateAll((els) =>
        els
            .map((el) => ({ top: parseFloat(el.style.top || '0'), text: el.textContent.replace(/\u00a0/g, ' ') }))
            .sort((a, b) => a.top - b.top)
            .map((l) => l.text),
    );
    return lines.join('\n');
}

// ---- setup and teardown ----------------------------------------------------------------------

const userConfig = () => path.join(tmp, 'config', 'fanout', 'config.toml');

/** fanout's user config: the attempt count and roster; both agents are always defined. */
function config({ attempts, agents }) {
    return `attempts = ${attempts}
max_running = 16
agents = ${JSON.stringify(agents)}
lead = "team"
[agent.fake]
command = ["python3", ${JSON.stringify(FAKE_AGENT)}, "{prompt_file}"]
[agent.team]
command = ["python3", ${JSON.stringify(TEAM_AGENT)}, "{prompt_file}"]
`;
}

before(async () => {
    fs.mkdirSync(WORK, { recursive: true });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-vscode-e2e-'));
    for (const d of ['home', 'config/fanout', 'data', 'tmp', 'user-data/User', 'extensions', 'chromium', 'repo/src']) {
        fs.mkdirSync(path.join(tmp, d), { recursive: true });
    }
    // code-server, its extension host and so the language server and the agents inherit this:
    // nothing is written to the real home, /tmp or the user's fanout configuration.
    childEnv = {
        PATH: `${path.dirname(FANOUT_BIN)}:${process.env.PATH}`,
        HOME: path.join(tmp, 'home'),
        XDG_CONFIG_HOME: path.join(tmp, 'config'),
        XDG_DATA_HOME: path.join(tmp, 'data'),
        XDG_CACHE_HOME: path.join(tmp, 'home', '.cache'),
        XDG_STATE_HOME: path.join(tmp, 'home', '.local', 'state'),
        TMPDIR: path.join(tmp, 'tmp'),
        LANG: 'C.UTF-8',
        FANOUT_LOG: 'debug',
        GIT_CONFIG_NOSYSTEM: '1',
        // The team agent's items and plan (tests/fixtures/agents/team-agent).
        TEAM_AGENT_SPEC: path.join(tmp, 'team-spec.json'),
        TEAM_AGENT_PLAN: path.join(tmp, 'team-plan.json'),
    };
    fs.writeFileSync(userConfig(), config({ attempts: 3, agents: ['fake'] }));
    fs.writeFileSync(childEnv.TEAM_AGENT_SPEC, JSON.stringify(TEAM_SPEC));
    fs.writeFileSync(childEnv.TEAM_AGENT_PLAN, JSON.stringify({ file: 'TASKS.md', text: PLANNED_TASKS_MD }));
    fs.writeFileSync(
        path.join(tmp, 'user-data', 'User', 'settings.json'),
        JSON.stringify(
            {
                'fanout.server.path': FANOUT_BIN,
                'fanout.logLevel': 'debug',
                // The JSON-RPC traffic goes to the "fanout" output, kept in vscode-logs/.
                'fanout.trace.server': 'verbose',
                'workbench.startupEditor': 'none',
                'workbench.tips.enabled': false,
                'workbench.enableExperiments': false,
                'security.workspace.trust.enabled': false,
                'telemetry.telemetryLevel': 'off',
                'extensions.autoCheckUpdates': false,
                'extensions.autoUpdate': false,
                'extensions.ignoreRecommendations': true,
                'update.mode': 'none',
                'git.enabled': false,
                'git.autoRepositoryDetection': false,
                'editor.codeLens': true,
                'editor.minimap.enabled': false,
                'files.autoSave': 'off',
                'window.restoreWindows': 'none',
            },
            null,
            2,
        ),
    );

    repo = path.join(tmp, 'repo');
    fs.writeFileSync(path.join(repo, 'src', 'lib.rs'), LIB_RS);
    fs.writeFileSync(path.join(repo, 'README.md'), '# demo\n');
    fs.writeFileSync(path.join(repo, 'TASKS.md'), TASKS_MD);
    git('init', '-q', '-b', 'main');
    git('config', 'user.name', 'fanout e2e');
    git('config', 'user.email', 'e2e@fanout.invalid');
    git('add', '.');
    git('commit', '-q', '-m', 'initial');

    const common = ['--user-data-dir', path.join(tmp, 'user-data'), '--extensions-dir', path.join(tmp, 'extensions')];
    const install = spawnSync(CODE_SERVER, [...common, '--install-extension', VSIX], {
        env: childEnv,
        encoding: 'utf8',
        timeout: 120_000,
    });
    if (install.status !== 0) throw new Error(`--install-extension failed:\n${install.stdout}\n${install.stderr}`);
    log(install.stdout.trim().split('\n').pop());

    const port = await freePort();
    serverLog = path.join(WORK, 'code-server.log');
    const out = fs.openSync(serverLog, 'w');
    // detached: setsid(), so code-server leads a process group that is killed whole at the end.
    codeServer = spawn(
        CODE_SERVER,
        [
            ...common,
            '--bind-addr',
            `127.0.0.1:${port}`,
            '--auth',
            'none',
            '--disable-telemetry',
            '--disable-update-check',
            '--disable-workspace-trust',
            '--disable-getting-started-override',
            repo,
        ],
        { env: childEnv, detached: true, stdio: ['ignore', out, out] },
    );
    if (process.env.E2E_PGID_FILE) fs.writeFileSync(process.env.E2E_PGID_FILE, String(codeServer.pid));
    log(`code-server pid ${codeServer.pid} on port ${port}; logs in ${serverLog}`);
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, STARTUP_MS);

    context = await chromium.launchPersistentContext(path.join(tmp, 'chromium'), {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1400, height: 900 },
        args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
        ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(repo)}`);
    await page.locator('.monaco-workbench').waitFor({ timeout: STARTUP_MS });
});

after(async () => {
    // What the test created: attempts run detached from the server, so discard them by the CLI.
    if (repo && childEnv) {
        try {
            const status = JSON.parse(
                execFileSync(FANOUT_BIN, ['status', '--json'], { cwd: repo, env: childEnv, encoding: 'utf8', timeout: 30_000 }),
            );
            for (const f of status.fanouts ?? []) {
                execFileSync(FANOUT_BIN, ['discard', f.id], { cwd: repo, env: childEnv, stdio: 'pipe', timeout: 60_000 });
                log(`discarded fanout ${f.id}`);
            }
        } catch (e) {
            log(`cleanup with the fanout CLI failed: ${e.message}`);
        }
    }
    await context?.close().catch(() => {});
    if (codeServer?.pid) {
        for (const signal of ['SIGTERM', 'SIGKILL']) {
            try {
                process.kill(-codeServer.pid, signal);
            } catch {
                break; // the group is gone
            }
            if (signal === 'SIGTERM') {
                // Give it a moment to stop its extension hosts; then the rest is killed.
                const deadline = Date.now() + 5000;
                while (Date.now() < deadline) {
                    try {
                        process.kill(-codeServer.pid, 0);
                    } catch {
                        break;
                    }
                    await new Promise((r) => setTimeout(r, 100));
                }
            }
        }
    }
    if (tmp) {
        // Keep the VS Code logs (the extension's output channels are in there) next to the screenshots.
        const logs = path.join(tmp, 'user-data', 'logs');
        if (fs.existsSync(logs)) fs.cpSync(logs, path.join(WORK, 'vscode-logs'), { recursive: true });
        if (!failed || !process.env.E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
    }
});

// ---- the story -------------------------------------------------------------------------------

describe('fanout in VS Code', () => {
    step('opens a repository with a TODO and shows the Try lens', async () => {
        await openFile('src/lib.rs');
        await lens('Try 3 approaches').waitFor({ timeout: STARTUP_MS });
    });

    step('shows the status bar item once the server runs', async () => {
        await statusItem('fanout: 0 running, 0 succeeded, 0 failed').waitFor({ timeout: STEP_MS });
    });

    step('shows the configuration the server reads', async () => {
        await palette('Fanout: Show Configuration');
        await page.locator('.quick-input-widget .quick-input-title', { hasText: 'Fanout: Configuration' }).waitFor({ timeout: STEP_MS });
        // From fanout.config: the effective count and roster, and the user config file.
        await quickRows().filter({ hasText: '3 attempts per task' }).waitFor({ timeout: STEP_MS });
        await quickRows().filter({ hasText: 'agents: fake' }).waitFor({ timeout: STEP_MS });
        await quickRows().filter({ hasText: 'config.toml' }).waitFor({ timeout: STEP_MS });
        await page.keyboard.press('Escape');
        await quickInput().waitFor({ state: 'hidden', timeout: STEP_MS });
    });

    step('runs "Fanout: Try N Approaches" on the task at the cursor', async () => {
        await page.locator('.monaco-editor .view-line', { hasText: TASK }).click();
        await palette('Fanout: Try N Approaches');
        // The count, defaulting to the lens's.
        await page.locator('.quick-input-widget .quick-input-message', { hasText: 'How many attempts' }).waitFor({ timeout: STEP_MS });
        assert.equal(await quickInputBox().inputValue(), '3');
        await page.keyboard.press('Enter');
        // The agents: the fake one comes from fanout's config.toml; pick it explicitly.
        await page.locator('.quick-input-widget .quick-input-title', { hasText: 'Try 3 Approaches' }).waitFor({ timeout: STEP_MS });
        await pickRow('fake');
        await page.locator('.quick-input-widget .quick-input-list .monaco-list-row[aria-checked="true"]', { hasText: 'fake' }).waitFor({ timeout: STEP_MS });
        // NAME:MODEL of a built-in that takes a model is offered as typed (fanout.agents says
        // which do); then the filter is cleared, the fake agent still picked.
        // Set at once (one change of the filter), not typed key by key.
        await quickInputBox().fill('claude:sonnet');
        await quickRows().filter({ hasText: 'this model, typed' }).filter({ hasText: 'claude:sonnet' }).waitFor({ timeout: STEP_MS });
        await quickInputBox().fill('');
        await page.locator('.quick-input-widget .quick-input-list .monaco-list-row[aria-checked="true"]', { hasText: 'fake' }).waitFor({ timeout: STEP_MS });
        await page.keyboard.press('Enter');
        await quickInput().waitFor({ state: 'hidden', timeout: STEP_MS });
        await page.locator('.notification-toast', { hasText: '3 attempts started' }).waitFor({ timeout: STEP_MS });
    });

    step('counts the attempts done in the status bar', async () => {
        await statusItem('fanout: 0 running, 3 succeeded, 0 failed').waitFor({ timeout: ATTEMPTS_MS });
        const text = await statusItem('fanout: 0 running, 3 succeeded, 0 failed').innerText();
        assert.match(text.trim(), /^3$/, `status bar text: ${JSON.stringify(text)}`);
    });

    step('announces the finished fanout with its buttons', async () => {
        const toast = page.locator('.notification-toast', { hasText: `3 of 3 attempts succeeded for "${TASK}"` });
        await toast.waitFor({ timeout: STEP_MS });
        await toast.locator('.monaco-button', { hasText: 'Open Best Diff' }).waitFor({ timeout: STEP_MS });
        await toast.locator('.monaco-button', { hasText: 'Show Attempts' }).waitFor({ timeout: STEP_MS });
    });

    step('shows a lens per attempt on the task', async () => {
        for (const n of [1, 2, 3]) await lens(`#${n} fake`).waitFor({ timeout: STEP_MS });
        await lens('Accept #1').waitFor({ timeout: STEP_MS });
        await page.screenshot({ path: path.join(WORK, 'e2e-lenses.png') });
    });

    step('lists the attempts from the status bar item', async () => {
        await statusItem('fanout: 0 running, 3 succeeded, 0 failed').click();
        await page.locator('.quick-input-widget .quick-input-title', { hasText: 'Fanout: Show Attempts' }).waitFor({ timeout: STEP_MS });
        for (const n of [1, 2, 3]) {
            // the server's title, then state, files and elapsed time: "succeeded · 2 files · 0s"
            await quickRows()
                .filter({ hasText: `#${n} fake` })
                .filter({ hasText: /succeeded · 2 files · \d+s/ })
                .waitFor({ timeout: STEP_MS });
        }
        await page.screenshot({ path: path.join(WORK, 'e2e-attempts.png') });
        await page.keyboard.press('Escape');
        await quickInput().waitFor({ state: 'hidden', timeout: STEP_MS });
    });

    step("opens the native diff of attempt #1's file from its lens", async () => {
        await lens('#1 fake').click();
        // Two changed files (src/lib.rs and notes/attempt-1.txt): a pick first.
        await quickRows().filter({ hasText: 'notes/attempt-1.txt' }).waitFor({ timeout: STEP_MS });
        await pickRow('src/lib.rs');
        const diff = page.locator('.monaco-diff-editor');
        await diff.waitFor({ timeout: STEP_MS });
        await activeTab('lib.rs: yours \u2194 #1 fake').waitFor({ timeout: STEP_MS });
        await diff.locator('.editor.modified .view-line', { hasText: 'done by attempt 1' }).waitFor({ timeout: STEP_MS });
        await diff.locator('.editor.original .view-line', { hasText: TASK }).waitFor({ timeout: STEP_MS });
        await page.screenshot({ path: path.join(WORK, 'e2e-diff.png') });
        await palette('View: Close Editor');
        await activeTab('lib.rs').waitFor({ timeout: STEP_MS });
    });

    step('opens all files of attempt #2 in one multi-file diff from the palette', async () => {
        await palette('Fanout: Open Attempt Diff');
        await pickRow('#2 fake');
        await pickRow('All 2 files');
        // "yours ↔ #2 fake", then "yours ↔ #2 fake (2 files)" once the editor has counted them.
        await activeTab(/^yours \u2194 #2 fake/).waitFor({ timeout: STEP_MS });
        const modified = page.locator('.editor.modified .view-line');
        await modified.filter({ hasText: 'done by attempt 2' }).first().waitFor({ timeout: STEP_MS });
        await modified.filter({ hasText: 'notes of attempt 2' }).first().waitFor({ timeout: STEP_MS });
        await page.screenshot({ path: path.join(WORK, 'e2e-multidiff.png') });
        await palette('View: Close Editor');
        await activeTab('lib.rs').waitFor({ timeout: STEP_MS });
    });

    // The tree view: a hunk of #1 and a hunk of #2 (their notes files: different files, so
    // they combine) accepted together in one edit, then undone.
    const treeRows = () => page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Fanout' }) }).locator('.monaco-list-row');
    const hunkRow = (n) => treeRows().and(page.locator(`[aria-label*="of #${n} fake: notes/attempt-${n}.txt"]`));
    const expand = async (row) => {
        await row.waitFor({ timeout: STEP_MS });
        if ((await row.getAttribute('aria-expanded')) !== 'true') await row.locator('.monaco-tl-twistie').click();
        await page.locator(`.monaco-list-row[aria-expanded="true"][id="${await row.getAttribute('id')}"]`).waitFor({ timeout: STEP_MS });
    };

    step('lists fanouts, attempts, files and hunks in the Fanout view', async () => {
        await palette('Fanout: Show Fanout View');
        await treeRows().filter({ hasText: TASK }).waitFor({ timeout: STEP_MS });
        // Room for the rows: the folder's own tree, above in the explorer, is folded away.
        const folder = page.locator('.pane-header[aria-expanded="true"]', { hasText: /^repo/i });
        if (await folder.count()) await folder.first().click();
        await page.locator('.pane-header[aria-expanded="false"]', { hasText: /^repo/i }).first().waitFor({ timeout: STEP_MS });
        for (const n of [1, 2]) {
            await expand(treeRows().filter({ hasText: `#${n} fake` }).first());
            await expand(treeRows().filter({ hasText: `notes/attempt-${n}.txt` }).first());
            await hunkRow(n).waitFor({ timeout: STEP_MS });
        }
        await page.screenshot({ path: path.join(WORK, 'e2e-tree.png') });
    });

    step('accepts a hunk of #1 and a hunk of #2 together from the tree', async () => {
        await hunkRow(1).click();
        await hunkRow(2).click({ modifiers: ['Control'] });
        await page.locator('.monaco-list-row.selected[aria-label*="of #1 fake"]').waitFor({ timeout: STEP_MS });
        await page.locator('.monaco-list-row.selected[aria-label*="of #2 fake"]').waitFor({ timeout: STEP_MS });
        // The palette command acts on the view's selection (its context menu's Accept Hunk too).
        await palette('Fanout: Accept Selected Hunks');
        await page.locator('.notification-toast', { hasText: 'accepted 2 hunks of #1 fake, #2 fake' }).waitFor({ timeout: STEP_MS });
    });

    step('has both notes files in the editor, and src/lib.rs untouched', async () => {
        for (const n of [1, 2]) {
            // The edit opened the files it created: their tabs (Quick Open may offer the
            // attempt's diff editor of the same name first).
            const tab = page.locator('.tabs-container .tab', { has: page.locator('.label-name', { hasText: exactly(`attempt-${n}.txt`) }) }).first();
            await tab.waitFor({ timeout: STEP_MS });
            await tab.click();
            await activeTab(`attempt-${n}.txt`).waitFor({ timeout: STEP_MS });
            const editor = page.locator('.editor-group-container.active .monaco-editor').first();
            await editor.locator('.view-line', { hasText: `notes of attempt ${n}` }).waitFor({ timeout: STEP_MS });
            assert.equal((await editorText(editor)).trimEnd(), `notes of attempt ${n}`);
        }
        assert.equal(fs.readFileSync(path.join(repo, 'src', 'lib.rs'), 'utf8'), LIB_RS);
        await page.screenshot({ path: path.join(WORK, 'e2e-hunks.png') });
    });

    step('undoes the hunks with Ctrl+Z', async () => {
        const editor = page.locator('.editor-group-container.active .monaco-editor').first();
        const everywhere = page.locator('.monaco-dialog-box .monaco-button', { hasText: /^Undo in \d+ Files$|^Undo$|^Yes$/ });
        const gone = () => !fs.existsSync(path.join(repo, 'notes', 'attempt-1.txt')) && !fs.existsSync(path.join(repo, 'notes', 'attempt-2.txt'));
        // As undoRedo above: a key press can be lost on a loaded machine; press again until done.
        for (let attempt = 1; !gone(); attempt++) {
            await editor.locator('.view-line').first().click();
            await page.keyboard.press('Control+Z');
            await everywhere.first().waitFor({ timeout: STEP_MS / 3 }).catch(() => {});
            while (await everywhere.first().isVisible()) {
                await everywhere.first().click();
                await everywhere.first().waitFor({ timeout: 2000 }).catch(() => {});
            }
            const deadline = Date.now() + STEP_MS / 3;
            while (!gone() && Date.now() < deadline) await page.waitForTimeout(100);
            if (!gone() && attempt >= 3) assert.fail('the accepted notes files are still on disk after undo');
        }
        await palette('View: Close All Editors');
        await openFile('src/lib.rs');
    });

    step('accepts attempt #1 from the palette', async () => {
        await palette('Fanout: Accept Attempt');
        await pickRow('#1 fake');
        await page.locator('.notification-toast', { hasText: 'accepted #1 fake' }).waitFor({ timeout: STEP_MS });
    });

    step("has the attempt's text in the editor", async () => {
        await activeTab('lib.rs').waitFor({ timeout: STEP_MS });
        const editor = page.locator('.editor-group-container.active .monaco-editor').first();
        await editor.locator('.view-line', { hasText: 'done by attempt 1' }).waitFor({ timeout: STEP_MS });
        assert.equal(await editorText(editor), ACCEPTED_LIB_RS);
    });

    step('undoes the accept with Ctrl+Z, and redoes it', async () => {
        const editor = page.locator('.editor-group-container.active .monaco-editor').first();
        await undoRedo(editor, 'Control+Z', 'Undo', TASK);
        assert.equal(await editorText(editor), LIB_RS);
        await undoRedo(editor, 'Control+Shift+Z', 'Redo', 'done by attempt 1');
        assert.equal(await editorText(editor), ACCEPTED_LIB_RS);
    });

    step('has it on disk once saved, and the lenses of the done task go', async () => {
        await palette('File: Save All Files');
        await page.locator('.tab.dirty').first().waitFor({ state: 'detached', timeout: STEP_MS });
        assert.equal(fs.readFileSync(path.join(repo, 'src', 'lib.rs'), 'utf8'), ACCEPTED_LIB_RS);
        assert.equal(fs.readFileSync(path.join(repo, 'notes', 'attempt-1.txt'), 'utf8'), 'notes of attempt 1\n');
        // The task is done: its line is no longer a TODO, so its lenses go.
        // (VS Code may show its cached lenses until it asks the server again.)
        await page.locator('.codelens-decoration').first().waitFor({ state: 'detached', timeout: STEP_MS });
    });

    step('takes a screenshot', async () => {
        const shot = path.join(WORK, 'e2e.png');
        await page.screenshot({ path: shot });
        assert.ok(fs.statSync(shot).size > 10_000);
        assert.equal(await page.locator('.codelens-decoration').count(), 0, 'the lenses of the accepted task are gone');
        log(`screenshot: ${shot}`);
    });

    // ---- a task list: Run all, Integrate, accept the integration, Plan tasks… ----------------

    /** The text of `name`'s tab, made the active editor, once it shows a line with `shown`. */
    const textOf = async (name, shown) => {
        const tab = page.locator('.tabs-container .tab', { has: page.locator('.label-name', { hasText: exactly(name) }) }).first();
        await tab.waitFor({ timeout: STEP_MS });
        await tab.click();
        await activeTab(name).waitFor({ timeout: STEP_MS });
        const editor = page.locator('.editor-group-container.active .monaco-editor').first();
        await editor.locator('.view-line', { hasText: shown }).first().waitFor({ timeout: STEP_MS });
        return editorText(editor);
    };

    step('shows the task list lenses on TASKS.md, with the count of the config in force', async () => {
        // The user's config now runs the team agent, 2 attempts per task: read by the server
        // for every lens and command, so the lens of the file opened now says so.
        fs.writeFileSync(userConfig(), config({ attempts: 2, agents: ['team'] }));
        await openFile('TASKS.md');
        await lens('Plan tasks\u2026').waitFor({ timeout: STEP_MS });
        await lens('Run all 2 tasks (2 approaches each)').waitFor({ timeout: STEP_MS });
        await lens('Try 2 approaches').nth(1).waitFor({ timeout: STEP_MS });
    });

    step('runs every item from the "Run all 2 tasks" lens', async () => {
        await lens('Run all 2 tasks').click();
        await page.locator('.notification-toast', { hasText: 'started Board, Search from TASKS.md' }).waitFor({ timeout: STEP_MS });
    });

    step("shows each item's label from the server once its attempts are done", async () => {
        // `★ <attempt> ready to integrate` on both items' lines.
        await lens('ready to integrate').nth(1).waitFor({ timeout: ATTEMPTS_MS });
        await lens('Integrate (2 items: 2 ready)').waitFor({ timeout: STEP_MS });
        // The Fanout view: the run (its file and summary), its items with the same labels.
        await treeRows().filter({ hasText: 'TASKS.md' }).filter({ hasText: '2 items: 2 ready' }).waitFor({ timeout: STEP_MS });
        for (const item of ['1. Board', '2. Search']) {
            await treeRows().filter({ hasText: item }).filter({ hasText: 'ready to integrate' }).waitFor({ timeout: STEP_MS });
        }
        await page.screenshot({ path: path.join(WORK, 'e2e-tasklist.png') });
    });

    step('integrates from the palette and shows what it did with each item', async () => {
        await palette('Fanout: Integrate');
        await page.locator('.quick-input-widget .quick-input-title', { hasText: 'Fanout: Integrate TASKS.md' }).waitFor({ timeout: ATTEMPTS_MS });
        // Each item's `text` from the server: `merged <attempt>`.
        await quickRows().filter({ hasText: '1. Board' }).filter({ hasText: /merged [0-9a-f]+-\d/ }).waitFor({ timeout: STEP_MS });
        await quickRows().filter({ hasText: '2. Search' }).filter({ hasText: /merged [0-9a-f]+-\d/ }).waitFor({ timeout: STEP_MS });
        await quickRows().filter({ hasText: 'Open Diff' }).waitFor({ timeout: STEP_MS });
        await quickRows().filter({ hasText: 'Accept' }).waitFor({ timeout: STEP_MS });
        await page.screenshot({ path: path.join(WORK, 'e2e-integrate.png') });
        await page.keyboard.press('Escape');
        await quickInput().waitFor({ state: 'hidden', timeout: STEP_MS });
        await lens('integration: 2 of 2 merged').waitFor({ timeout: STEP_MS });
        await treeRows().filter({ hasText: 'integration' }).filter({ hasText: 'integrate' }).first().waitFor({ timeout: STEP_MS });
    });

    step("accepts the integration from its lens: the items' files, and their boxes checked", async () => {
        await lens('Accept the integration').click();
        await page.locator('.notification-toast', { hasText: 'accepted the integration of TASKS.md' }).waitFor({ timeout: STEP_MS });
        // One edit: both items' files (opened by the edit) and TASKS.md's boxes. Each file is
        // as the attempt the run chose for its item wrote it (the best: not always #1).
        const run = JSON.parse(execFileSync(FANOUT_BIN, ['status', '--json'], { cwd: repo, env: childEnv, encoding: 'utf8' })).batches.at(-1);
        const n = (k) => run.items[k].chosen.split('-').pop();
        assert.equal(await textOf('board.py', 'BOARD'), `BOARD = ${n(0)}\n`);
        assert.equal(await textOf('TASKS.md', '- [x] Search'), TASKS_MD.replaceAll('- [ ]', '- [x]'));
        await palette('File: Save All Files');
        await page.locator('.tab.dirty').first().waitFor({ state: 'detached', timeout: STEP_MS });
        assert.equal(fs.readFileSync(path.join(repo, 'TASKS.md'), 'utf8'), TASKS_MD.replaceAll('- [ ]', '- [x]'));
        assert.equal(fs.readFileSync(path.join(repo, 'search.py'), 'utf8'), `def search():\n    return ${n(1)}\n`);
        // Nothing unchecked is left to run.
        await lens('Run all').waitFor({ state: 'detached', timeout: STEP_MS });
        await page.screenshot({ path: path.join(WORK, 'e2e-integrated.png') });
    });

    step('asks for the goal from the "Plan tasks…" lens and starts the lead', async () => {
        await lens('Plan tasks\u2026').click();
        await page.locator('.quick-input-widget .quick-input-message', { hasText: 'The goal' }).waitFor({ timeout: STEP_MS });
        await quickInputBox().fill('Add a clock');
        await page.keyboard.press('Enter');
        await quickInput().waitFor({ state: 'hidden', timeout: STEP_MS });
        await page.locator('.notification-toast', { hasText: 'the lead is planning TASKS.md' }).waitFor({ timeout: STEP_MS });
        await page.locator('.notification-toast', { hasText: '1 of 1 attempts succeeded for "plan: Add a clock"' }).waitFor({ timeout: ATTEMPTS_MS });
    });
});
