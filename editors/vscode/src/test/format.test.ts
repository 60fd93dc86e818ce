import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as format from '../format';
import { attempt, fanout } from './fixtures';

const running = (n: number) =>
    attempt(n, {
        state: 'running',
        finished_at: null,
        elapsed_secs: 72,
        elapsed: '1m12s',
        exit_code: null,
        diffstat: null,
        title: `#${n} claude ⟳ running 1m12s`,
        icon: '⟳',
        can_accept: false,
    });

describe('status bar', () => {
    it('shows the server counts: running and done', () => {
        const counts = { running: 2, queued: 0, succeeded: 1, failed: 0 };
        assert.equal(format.statusBarText(counts), '$(sync~spin) 2 running $(check) 1');
    });

    it('shows them done once nothing runs', () => {
        const counts = { running: 0, queued: 0, succeeded: 2, failed: 1 };
        assert.equal(format.statusBarText(counts), '$(check) 2 $(error) 1');
        assert.equal(format.statusBarLabel(counts), 'fanout: 0 running, 2 succeeded, 1 failed');
    });

    it('is a plain name when there is nothing to count', () => {
        assert.equal(format.statusBarText({ running: 0, queued: 0, succeeded: 0, failed: 0 }), '$(repo-forked) fanout');
    });

    it('says queued attempts apart', () => {
        const counts = { running: 1, queued: 1, succeeded: 1, failed: 0 };
        assert.equal(format.statusBarText(counts), '$(sync~spin) 1 running $(clock) 1 queued $(check) 1');
        assert.equal(format.statusBarLabel(counts), 'fanout: 1 running, 1 queued, 1 succeeded, 0 failed');
    });

    it("lists every attempt in the tooltip by the server's title", () => {
        const f = fanout([running(1), attempt(2, { title: '★ #2 codex ✓ +12 −3' })]);
        const tip = format.statusTooltip([f]);
        assert.match(tip, /^TODO: handle empty input \(src\/lib\.rs:12\)$/m);
        assert.match(tip, /^ {4}#1 claude ⟳ running 1m12s$/m);
        assert.match(tip, /^ {4}★ #2 codex ✓ \+12 −3$/m);
    });
});

describe('attempt rows', () => {
    it("show the server's title, state, files and elapsed time", () => {
        assert.deepEqual(format.attemptItem(attempt(2, { title: '★ #2 codex ✓ +12 −3' })), {
            label: '★ #2 codex ✓ +12 −3',
            description: 'succeeded · 1 file · 1m12s',
            detail: '7f3a9c-2 · fanout/handle-empty-input-7f3a9c/2',
        });
    });

    it('say why an attempt is stuck or failed', () => {
        const stuck = attempt(1, { state: 'running', stalled: 'stalled (no output for 3m)', diffstat: null });
        assert.match(format.attemptItem(stuck).detail, /stalled \(no output for 3m\)/);
        const failed = attempt(3, { state: 'failed', error: 'agent not found', diffstat: null, elapsed: '5s' });
        assert.equal(format.attemptItem(failed).description, 'failed · 5s');
        assert.match(format.attemptItem(failed).detail, /agent not found$/);
    });

    it('offer the actions the server allows', () => {
        assert.deepEqual(format.attemptActions(attempt(1)), ['diff', 'accept', 'log', 'discard']);
        assert.deepEqual(format.attemptActions(running(1)), ['diff', 'cancel', 'log', 'discard']);
        assert.deepEqual(format.attemptActions(attempt(1, { state: 'empty', can_accept: false, can_diff: false })), ['log', 'discard']);
        // The server says no: an accepted or discarded attempt, say.
        assert.deepEqual(format.attemptActions(attempt(1, { can_accept: false })), ['diff', 'log', 'discard']);
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
    it("the task is the server's label", () => {
        assert.equal(format.taskLabel(fanout([])), 'TODO: handle empty input');
        assert.equal(format.taskLocation(fanout([])), 'src/lib.rs:12');
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
