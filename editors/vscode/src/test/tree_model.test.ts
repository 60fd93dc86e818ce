import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HunkInfo, Verdict } from '../lsp_ext';
import * as model from '../tree_model';
import type { Node } from '../tree_model';
import { attempt, batch, fanout } from './fixtures';

function hunk(id: string, over: Partial<HunkInfo> = {}): HunkInfo {
    return {
        id,
        attempt: '7f3a9c-1',
        path: 'src/lib.rs',
        kind: 'lines',
        old_start: 10,
        old_lines: 7,
        new_start: 10,
        new_lines: 9,
        additions: 2,
        deletions: 0,
        text: '@@ -10,7 +10,9 @@\n fn parse(',
        ...over,
    };
}

const verdict: Verdict = {
    agent: 'claude',
    judged_at: 1795000100,
    ranking: [2, 1],
    best: 2,
    attempts: [
        { attempt: 2, summary: 'handles empty input, adds a test', strengths: ['tests the empty case'], risks: ['changes the error type'] },
        { attempt: 1, summary: 'minimal', strengths: [], risks: [] },
    ],
    combine: [{ attempt: 1, hunk: '3fa2b1c0', why: 'its parser fix' }],
};

const hunkNode = (attemptId: string, id: string, fanoutId = '7f3a9c'): Node => ({
    kind: 'hunk',
    fanout: fanoutId,
    attempt: attemptId,
    hunk: hunk(id, { attempt: attemptId }),
});

describe('tree rows', () => {
    it("show an attempt by the server's title, the judge's words in the tooltip", () => {
        const a = attempt(2, { judge_rank: 1, judge_summary: 'handles empty input, adds a test', verify: { passed: true, exit_code: 0, duration_ms: 8123, tail: [] } });
        const item = model.attemptItem(a, verdict);
        assert.equal(item.label, '#2 codex ✓ +12 −3');
        assert.equal(item.id, 'attempt:7f3a9c-2');
        assert.equal(item.contextValue, 'attempt canAccept canDiff');
        assert.match(item.tooltip ?? '', /^judge \(claude\): #1, best: handles empty input, adds a test$/m);
        assert.match(item.tooltip ?? '', /^ {2}\+ tests the empty case$/m);
        assert.match(item.tooltip ?? '', /^ {2}− changes the error type$/m);
        assert.match(item.tooltip ?? '', /^verify passed \(8\.1s\)$/m);
    });

    it('offer only what the server allows', () => {
        assert.equal(model.attemptItem(attempt(1, { can_accept: false, can_diff: false })).contextValue, 'attempt');
        assert.equal(model.attemptItem(attempt(1, { can_accept: false })).contextValue, 'attempt canDiff');
    });

    it('say a failed verify', () => {
        assert.equal(model.verifyLine(attempt(1, { verify: { passed: false, exit_code: 101, duration_ms: 500, tail: [] } })), 'verify failed (exit 101, 0.5s)');
        assert.equal(model.verifyLine(attempt(1)), undefined);
    });

    it('name a fanout by its task', () => {
        const item = model.fanoutItem(fanout([attempt(1), attempt(2)]));
        assert.equal(item.label, 'TODO: handle empty input');
        assert.equal(item.description, '7f3a9c · 2 attempts');
        assert.equal(item.contextValue, 'fanout');
    });

    it('show hunks by their lines and id', () => {
        const item = model.hunkItem(hunk('3fa2b1c0'));
        assert.equal(item.label, 'lines 10–18 +2 −0');
        assert.equal(item.description, 'hunk 3fa2b1c0');
        assert.equal(item.id, 'hunk:7f3a9c-1:3fa2b1c0');
        assert.equal(model.hunkItem(hunk('3fa2b1c0'), '#1 claude').accessibility, 'hunk 3fa2b1c0 of #1 claude: src/lib.rs lines 10–18');
        assert.equal(model.hunkLines(hunk('a', { new_start: 4, new_lines: 1 })), 'line 4');
        assert.equal(model.hunkLines(hunk('a', { kind: 'file', text: 'new file' })), 'new file');
        assert.equal(model.hunkLine(hunk('a')), 9);
        assert.equal(model.hunkLine(hunk('a', { kind: 'file', new_start: 0 })), 0);
    });

    it("list a file's hunks in order", () => {
        const hs = [hunk('b', { new_start: 30 }), hunk('c', { path: 'README.md' }), hunk('a', { new_start: 3 })];
        assert.deepEqual(model.hunksOf(hs, 'src/lib.rs').map((h) => h.id), ['a', 'b']);
    });

    it('find the hunk under the cursor', () => {
        const hs = [hunk('a', { new_start: 3, new_lines: 4 }), hunk('b', { new_start: 30, new_lines: 2 })];
        assert.equal(model.hunkAt(hs, 2)?.id, 'a');
        assert.equal(model.hunkAt(hs, 5)?.id, 'a');
        assert.equal(model.hunkAt(hs, 6), undefined);
        assert.equal(model.hunkAt(hs, 30)?.id, 'b');
        assert.equal(model.hunkAt([hunk('f', { kind: 'file' })], 0)?.id, 'f');
    });
});

describe('choosing hunks', () => {
    it('of one attempt: that attempt', () => {
        assert.deepEqual(model.hunkChoice([hunkNode('7f3a9c-1', 'aaaa1111'), hunkNode('7f3a9c-1', 'bbbb2222')]), {
            attempt: '7f3a9c-1',
            hunks: ['aaaa1111', 'bbbb2222'],
        });
    });

    it('of several attempts: the fanout, every id once', () => {
        const nodes = [hunkNode('7f3a9c-1', 'aaaa1111'), hunkNode('7f3a9c-2', 'bbbb2222'), hunkNode('7f3a9c-3', 'bbbb2222')];
        assert.deepEqual(model.hunkChoice(nodes), { attempt: '7f3a9c', hunks: ['aaaa1111', 'bbbb2222'] });
        assert.equal(model.hunksName(nodes, (id) => `#${id.slice(-1)}`), '2 hunks of #1, #2, #3');
    });

    it('ignore other rows, and refuse none or several fanouts', () => {
        const other: Node = { kind: 'attempt', fanout: '7f3a9c', attempt: '7f3a9c-1' };
        assert.deepEqual(model.hunkChoice([other, hunkNode('7f3a9c-2', 'cccc')]), { attempt: '7f3a9c-2', hunks: ['cccc'] });
        assert.ok('error' in model.hunkChoice([other]));
        assert.match(JSON.stringify(model.hunkChoice([hunkNode('7f3a9c-1', 'a'), hunkNode('99aa00-1', 'b', '99aa00')])), /2 fanouts/);
    });
});

describe('task list runs', () => {
    const board = fanout([attempt(1, { id: 'ba9775-1', fanout: 'ba9775' }), attempt(2, { id: 'ba9775-2', fanout: 'ba9775' })], { id: 'ba9775', created_at: 1795000101 });
    const search = fanout([attempt(1, { id: '49c549-1', fanout: '49c549', state: 'running', can_accept: false })], { id: '49c549', created_at: 1795000101 });
    const integration = fanout([attempt(1, { id: '95e5dc-1', fanout: '95e5dc', agent: 'integrate', title: '★ #1 integrate ✓ +3 −0' })], { id: '95e5dc', created_at: 1795000200 });
    const lone = fanout([attempt(1)], { created_at: 1795000300 });
    const older = batch({ id: 'aaaaaa', created_at: 1795000000, items: [], integration: null });

    it('come first, newest first, and hold their fanouts', () => {
        const roots = model.rootNodes([lone, board, search, integration], [older, batch()]);
        assert.deepEqual(roots, [
            { kind: 'run', batch: 'fb8d54' },
            { kind: 'run', batch: 'aaaaaa' },
            // Only the fanout that is no item's and no integration's stays at the top.
            { kind: 'fanout', fanout: '7f3a9c' },
        ]);
    });

    it('list their items in order, each with its chosen attempt, then the integration', () => {
        assert.deepEqual(model.runChildren(batch()), [
            { kind: 'item', batch: 'fb8d54', number: 1, fanout: 'ba9775', attempt: 'ba9775-1' },
            { kind: 'item', batch: 'fb8d54', number: 2, fanout: '49c549' },
            { kind: 'integration', batch: 'fb8d54', fanout: '95e5dc', attempt: '95e5dc-1' },
        ]);
        assert.deepEqual(model.runChildren(older), []);
    });

    it("show an item's fanout's attempts under it, none before it has one", () => {
        const [item1] = batch().items.filter((i) => i.number === 1);
        assert.deepEqual(model.itemChildren(item1, [search, board]), [
            { kind: 'attempt', fanout: 'ba9775', attempt: 'ba9775-1' },
            { kind: 'attempt', fanout: 'ba9775', attempt: 'ba9775-2' },
        ]);
        const waiting = { number: 3, line: 7, title: 'Self-play', fanout: null, chosen: null, outcome: null, label: '… waiting for 1, 2' };
        assert.deepEqual(model.itemChildren(waiting, [board]), []);
    });

    it("say the run by its file and the server's summary", () => {
        const item = model.runItem(batch());
        assert.equal(item.label, 'TASKS.md');
        assert.equal(item.description, '2 items: 1 merged, 1 running · run fb8d54');
        assert.equal(item.contextValue, 'run');
        assert.equal(item.id, 'run:fb8d54');
        assert.match(item.tooltip ?? '', /integration 95e5dc-1 on fanout\/integration-fb8d54/);
    });

    it("say an item by its number and title, and the server's label", () => {
        const b = batch();
        const board1 = board.attempts[0];
        const item = model.itemItem(b, b.items[1], board1);
        assert.equal(item.label, '1. Board');
        assert.equal(item.description, '✓ merged ba9775-1');
        assert.equal(item.id, 'item:fb8d54:1');
        // What the server allows the chosen attempt, the row offers.
        assert.equal(item.contextValue, 'item canAccept canDiff');
        const running = model.itemItem(b, b.items[0]);
        assert.equal(running.description, '⟳ 2 running');
        assert.equal(running.contextValue, 'item');
    });

    it("show the integration by its attempt's title, diffed and accepted like one", () => {
        const item = model.integrationItem(batch(), integration.attempts[0]);
        assert.equal(item.label, 'integration');
        assert.equal(item.description, '★ #1 integrate ✓ +3 −0');
        assert.equal(item.contextValue, 'integration canAccept canDiff');
        assert.match(item.tooltip ?? '', /^95e5dc-1 on fanout\/integration-fb8d54$/m);
        // Before the status has its attempt: the id, and nothing offered.
        const bare = model.integrationItem(batch());
        assert.equal(bare.description, '95e5dc-1');
        assert.equal(bare.contextValue, 'integration');
    });
});
