import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeQuery, encodeQuery } from '../attempt_uri';
import { attemptArg, taskListArg } from '../lsp_ext';

describe('fanout: document URIs', () => {
    it('round-trip the attempt and the file', () => {
        const doc = { kind: 'attempt' as const, attempt: '7f3a9c-2', uri: 'file:///repo/src/a%20b.rs' };
        assert.deepEqual(decodeQuery(encodeQuery(doc)), doc);
        assert.deepEqual(decodeQuery(encodeQuery({ kind: 'empty' })), { kind: 'empty' });
        assert.equal(decodeQuery('attempt=x'), undefined);
    });
});

describe('command arguments', () => {
    it('take an attempt from a lens argument, a bare id, or nothing', () => {
        assert.deepEqual(attemptArg({ attempt: '7f3a9c-2' }), { attempt: '7f3a9c-2' });
        assert.deepEqual(attemptArg({ attempt: '7f3a9c-2', uri: 'file:///a' }), { attempt: '7f3a9c-2', uri: 'file:///a' });
        assert.deepEqual(attemptArg('7f3a'), { attempt: '7f3a' });
        assert.equal(attemptArg(undefined), undefined);
        assert.equal(attemptArg({ attempt: 2 }), undefined);
        assert.equal(attemptArg({ fanout: '7f3a9c' }), undefined);
    });
});

describe('task list arguments', () => {
    it("take a lens's uri and count, or a run's batch, and leave out what is malformed", () => {
        assert.deepEqual(taskListArg({ uri: 'file:///repo/TASKS.md', count: 3 }), { uri: 'file:///repo/TASKS.md', count: 3 });
        assert.deepEqual(taskListArg({ uri: 'file:///repo/TASKS.md' }), { uri: 'file:///repo/TASKS.md' });
        assert.deepEqual(taskListArg({ kind: 'run', batch: 'fb8d54' }), { batch: 'fb8d54' });
        assert.deepEqual(taskListArg({ uri: '', count: 0, batch: 7 }), {});
        assert.deepEqual(taskListArg({ count: 2.5 }), {});
        assert.deepEqual(taskListArg(undefined), {});
    });
});
