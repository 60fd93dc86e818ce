import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as format from '../format';
import { attempt, fanout } from './fixtures';

const running = (n: number) =>
    attempt(n, { state: 'running', finished_at: null, elapsed_secs: null, exit_code: null, diffstat: null });

describe('status bar', () => {
    it('shows running and done counts as the issue describes', () => {
        const counts = format.statusCounts({ running: 2, succeeded: 1, failed: 0, fanouts: [] });
        assert.equal(format.statusBarText(counts), '$(sync~spin) 2 running $(check) 1');
    });

    it('counts them done once nothing runs', () => {
        const f = fanout([attempt(1), attempt(2), attempt(3, { state: 'failed', exit_code: 1 })]);
        const counts = format.statusCounts({ running: 0, succeeded: 2, failed: 1, fanouts: [f] });
        assert.equal(format.statusBarText(counts), '$(check) 2 $(error) 1');
        assert.equal(format.statusBarLabel(counts), 'fanout: 0 running, 2 succeeded, 1 failed');
    });

    it('is a plain name when there is nothing to count', () => {
        const counts = format.statusCounts({ running: 0, succeeded: 0, failed: 0, fanouts: [] });
        assert.equal(format.statusBarText(counts), '$(repo-forked) fanout');
    });

    it('counts from the attempts when the payload has no counts (fanout.status)', () => {
        const f = fanout([running(1), attempt(2), attempt(3, { state: 'queued', started_at: null, diffstat: null })]);
        const counts = format.statusCounts({ fanouts: [f] });
        assert.deepEqual(counts, { running: 1, queued: 1, succeeded: 1, failed: 0 });
        assert.equal(format.statusBarText(counts), '$(sync~spin) 1 running $(clock) 1 queued $(check) 1');
        assert.equal(format.statusBarLabel(counts), 'fanout: 1 running, 1 queued, 1 succeeded, 0 failed');
    });

    it('lists every attempt in the tooltip, best marked', () => {
        const f = fanout([running(1), attempt(2), attempt(3, { state: 'failed', exit_code: 1, diffstat: null })], { best: '7f3a9c-2' });
        const tip = format.statusTooltip([f], 1795000073);
        assert.match(tip, /^TODO: handle empty input \(src\/lib\.rs:12\)$/m);
        assert.match(tip, /#1 claude {2}⟳ running 1m12s$/m);
        assert.match(tip, /#2 codex {2}✓ \+12 −3 ★ best$/m);
        assert.match(tip, /#3 gemini {2}✗ exit 1$/m);
    });
});

describe('attempt rows', () => {
    it('show state, agent, diffstat and elapsed time', () => {
        const f = fanout([attempt(2)], { best: '7f3a9c-2' });
        assert.deepEqual(format.attemptItem(f, f.attempts[0], 0), {
            label: '$(check) #2 codex',
            description: 'succeeded · +12 −3 in 1 file · 1m12s · ★ best',
            detail: '7f3a9c-2 · fanout/handle-empty-input-7f3a9c/2',
        });
    });

    it('count a running attempt up to now', () => {
        const f = fanout([running(1)]);
        const item = format.attemptItem(f, f.attempts[0], 1795000001 + 3725);
        assert.equal(item.label, '$(sync~spin) #1 claude');
        assert.equal(item.description, 'running · 1h02m');
    });

    it('say why an attempt failed', () => {
        const f = fanout([attempt(3, { state: 'failed', exit_code: 1, diffstat: null, elapsed_secs: 5 })]);
        assert.equal(format.attemptItem(f, f.attempts[0], 0).description, 'failed (exit 1) · 5s');
        const e = attempt(1, { state: 'failed', exit_code: null, error: 'agent not found' });
        assert.equal(format.describeState(e), 'failed (agent not found)');
    });

    it('do not show a diffstat for an empty attempt', () => {
        const e = attempt(1, { state: 'empty', diffstat: { files: 0, additions: 0, deletions: 0 } });
        assert.equal(format.attemptItem(fanout([e]), e, 0).description, 'no changes · 1m12s');
    });

    it('offer the actions that fit the state', () => {
        assert.deepEqual(format.attemptActions(attempt(1)), ['diff', 'accept', 'log', 'discard']);
        assert.deepEqual(format.attemptActions(running(1)), ['diff', 'cancel', 'log', 'discard']);
        assert.deepEqual(format.attemptActions(attempt(1, { state: 'empty' })), ['log', 'discard']);
        assert.deepEqual(format.attemptActions(attempt(1, { state: 'failed', diffstat: null })), ['diff', 'log', 'discard']);
    });

    it('sort fanouts newest first and attempts by number', () => {
        const old = fanout([attempt(2), attempt(1)], { id: 'aaaaaa', created_at: 1 });
        const fresh = fanout([attempt(1)], { id: 'bbbbbb', created_at: 2 });
        const sorted = format.sortFanouts([old, fresh]);
        assert.deepEqual(sorted.map((f) => f.id), ['bbbbbb', 'aaaaaa']);
        assert.deepEqual(sorted[1].attempts.map((a) => a.n), [1, 2]);
    });
});

describe('small formats', () => {
    it('elapsed time', () => {
        assert.equal(format.formatElapsed(0), '0s');
        assert.equal(format.formatElapsed(59), '59s');
        assert.equal(format.formatElapsed(72), '1m12s');
        assert.equal(format.formatElapsed(3600), '1h00m');
        assert.equal(format.formatElapsed(-4), '0s');
    });

    it('lens-like summaries', () => {
        assert.equal(format.attemptSummary(attempt(2), 0), '✓ +12 −3');
        assert.equal(format.attemptSummary(attempt(3, { state: 'failed', exit_code: 1 }), 0), '✗ exit 1');
        assert.equal(format.attemptSummary(running(1), 1795000001 + 72), '⟳ running 1m12s');
    });

    it('the task title does not repeat its marker', () => {
        assert.equal(format.taskTitle(fanout([])), 'TODO: handle empty input');
        const f = fanout([], { task: { file: 'a', line: 1, marker: 'TODO', text: 'TODO: x' } });
        assert.equal(format.taskTitle(f), 'TODO: x');
    });

    it('changed-file rows and diff titles', () => {
        assert.deepEqual(format.diffFileItem({ path: 'notes/a.txt', status: 'added', additions: 1, deletions: 0 }), {
            label: '$(diff-added) notes/a.txt',
            description: 'added +1 −0',
        });
        assert.equal(format.diffTitle('src/lib.rs', { n: 2, agent: 'codex' }, '7f3a9c-2'), 'lib.rs: yours ↔ #2 codex');
        assert.equal(format.diffTitle('lib.rs', undefined, '7f3a9c-2'), 'lib.rs: yours ↔ 7f3a9c-2');
    });

    it('the count input', () => {
        assert.equal(format.validateCount(' 4 '), undefined);
        assert.match(format.validateCount('0') ?? '', /At least 1/);
        assert.match(format.validateCount('65') ?? '', /At most 64/);
        assert.match(format.validateCount('three') ?? '', /whole number/);
    });
});

describe('finish notifications', () => {
    it('have the server message text, and the best attempt to open', () => {
        const f = fanout([attempt(1), attempt(2), attempt(3, { state: 'failed', exit_code: 1, diffstat: null })]);
        assert.equal(format.finishMessage(f), 'fanout: 2 of 3 attempts succeeded for "TODO: handle empty input"');
        assert.ok(format.isFinishMessage(format.finishMessage(f)));
        assert.ok(!format.isFinishMessage('fanout: could not start attempt'));
        assert.equal(format.bestAttempt(f)?.id, '7f3a9c-1');
        assert.equal(format.bestAttempt({ ...f, best: '7f3a9c-2' })?.id, '7f3a9c-2');
    });

    it('come once, when a fanout seen running finishes', () => {
        const t = new format.FinishTracker();
        t.baseline([]);
        assert.deepEqual(t.update([fanout([running(1), attempt(2)])]), []);
        assert.deepEqual(t.update([fanout([attempt(1), attempt(2)])]).map((f) => f.id), ['7f3a9c']);
        assert.deepEqual(t.update([fanout([attempt(1), attempt(2)])]), []);
    });

    it('come for a fanout that finished between two notifications', () => {
        const t = new format.FinishTracker();
        t.baseline([]);
        assert.equal(t.update([fanout([attempt(1)])]).length, 1);
    });

    it('do not come for fanouts that were done before the window connected', () => {
        const t = new format.FinishTracker();
        const old = fanout([attempt(1)], { id: 'old000' });
        t.baseline([old]);
        assert.deepEqual(t.update([old]), []);
        // Without a baseline, the first notification is the baseline.
        const u = new format.FinishTracker();
        assert.deepEqual(u.update([old]), []);
        assert.deepEqual(u.update([old, fanout([attempt(1)])]).map((f) => f.id), ['7f3a9c']);
    });

    it('come for a fanout started here even before any baseline', () => {
        const t = new format.FinishTracker();
        t.expect('7f3a9c');
        assert.equal(t.update([fanout([attempt(1)])]).length, 1);
    });
});
