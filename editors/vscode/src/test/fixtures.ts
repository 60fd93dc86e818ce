// Status JSON as docs/protocol.md shows it, for the unit tests.
import type { Attempt, Batch, Fanout } from '../lsp_ext';

export function attempt(n: number, over: Partial<Attempt> = {}): Attempt {
    return {
        id: `7f3a9c-${n}`,
        fanout: '7f3a9c',
        n,
        agent: ['claude', 'codex', 'gemini'][(n - 1) % 3],
        state: 'succeeded',
        branch: `fanout/handle-empty-input-7f3a9c/${n}`,
        worktree: `/home/me/.local/share/fanout/worktrees/project/7f3a9c-${n}`,
        started_at: 1795000001,
        finished_at: 1795000073,
        elapsed_secs: 72,
        elapsed: '1m12s',
        exit_code: 0,
        diffstat: { files: 1, additions: 12, deletions: 3 },
        disk_bytes: 10485760,
        error: null,
        title: `#${n} ${['claude', 'codex', 'gemini'][(n - 1) % 3]} ✓ +12 −3`,
        icon: '✓',
        can_accept: true,
        can_diff: true,
        ...over,
    };
}

export function fanout(attempts: Attempt[], over: Partial<Fanout> = {}): Fanout {
    return {
        id: '7f3a9c',
        created_at: 1795000000,
        task: { file: 'src/lib.rs', line: 12, marker: 'TODO', text: 'handle empty input', label: 'TODO: handle empty input' },
        prompt: '...',
        snapshot: '3b18e512dba79e4c8300dd08aeb37f8e728b8dad',
        best: null,
        attempts,
        ...over,
    };
}

/** A task list run of two items as the status has it: Board merged, Search still running. */
export function batch(over: Partial<Batch> = {}): Batch {
    return {
        id: 'fb8d54',
        file: 'TASKS.md',
        created_at: 1795000100,
        summary: '2 items: 1 merged, 1 running',
        items: [
            {
                number: 2,
                line: 5,
                title: 'Search',
                fanout: '49c549',
                chosen: null,
                outcome: null,
                label: '⟳ 2 running',
            },
            {
                number: 1,
                line: 3,
                title: 'Board',
                fanout: 'ba9775',
                chosen: 'ba9775-1',
                outcome: { outcome: 'merged', attempt: 'ba9775-1', commit: '0123abcd' },
                label: '✓ merged ba9775-1',
            },
        ],
        integration: {
            attempt: '95e5dc-1',
            fanout: '95e5dc',
            branch: 'fanout/integration-fb8d54',
            worktree: '/home/me/.local/share/fanout/worktrees/project/95e5dc-1',
            head: '4567ef01',
            merged: 1,
        },
        ...over,
    };
}
