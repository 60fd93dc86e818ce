// What the user reads: status bar text, quick-pick labels, messages. Pure functions of the
// protocol's JSON (no `vscode` import), so they are unit-tested under plain node.
import type { Attempt, AttemptState, DiffFile, Fanout, StatusNotification } from './lsp_ext';

/** States after which an attempt never changes again. */
export function isFinished(state: AttemptState): boolean {
    return state !== 'queued' && state !== 'running';
}

export function fanoutFinished(fanout: Fanout): boolean {
    return fanout.attempts.length > 0 && fanout.attempts.every((a) => isFinished(a.state));
}

/** An attempt whose change can be looked at and accepted. */
export function hasChanges(attempt: Attempt): boolean {
    if (attempt.state === 'empty') return false;
    const d = attempt.diffstat;
    return !!d && (d.files > 0 || d.additions > 0 || d.deletions > 0);
}

/** Whether the attempt still has a worktree to diff against. */
export function hasWorktree(attempt: Attempt): boolean {
    return attempt.state !== 'empty' && attempt.state !== 'queued';
}

export const STATE_ICONS: Record<AttemptState, string> = {
    queued: '$(clock)',
    running: '$(sync~spin)',
    succeeded: '$(check)',
    failed: '$(error)',
    cancelled: '$(circle-slash)',
    interrupted: '$(debug-disconnect)',
    empty: '$(circle-outline)',
};

export function stateIcon(state: AttemptState): string {
    return STATE_ICONS[state] ?? '$(question)';
}

/** `45s`, `1m12s`, `2h05m`. */
export function formatElapsed(secs: number): string {
    const s = Math.max(0, Math.floor(secs));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Seconds the attempt has run: its final time once finished, else counted up to `now`. */
export function elapsedSecs(attempt: Attempt, nowSecs: number): number | undefined {
    if (isFinished(attempt.state) && attempt.elapsed_secs != null) return attempt.elapsed_secs;
    if (attempt.started_at != null) {
        const end = isFinished(attempt.state) && attempt.finished_at != null ? attempt.finished_at : nowSecs;
        return Math.max(0, end - attempt.started_at);
    }
    return attempt.elapsed_secs ?? undefined;
}

/** `+12 −3` (the minus is U+2212, as in the server's lenses). */
export function formatDiffstat(additions: number, deletions: number): string {
    return `+${additions} \u2212${deletions}`;
}

/** What happened to the attempt, in a few words: `succeeded`, `failed (exit 1)`, ... */
export function describeState(attempt: Attempt): string {
    switch (attempt.state) {
        case 'failed':
            if (attempt.exit_code != null) return `failed (exit ${attempt.exit_code})`;
            return attempt.error ? `failed (${attempt.error})` : 'failed';
        case 'empty':
            return 'no changes';
        default:
            return attempt.state;
    }
}

/** `#2 codex` */
export function attemptName(attempt: Attempt): string {
    return `#${attempt.n} ${attempt.agent}`;
}

/** The task as the user wrote it: `TODO: handle empty input`. */
export function taskTitle(fanout: Fanout): string {
    const { marker, text } = fanout.task;
    if (!marker) return text;
    return text.startsWith(marker) ? text : `${marker}: ${text}`;
}

/** `src/lib.rs:12` */
export function taskLocation(fanout: Fanout): string {
    return `${fanout.task.file}:${fanout.task.line}`;
}

export interface StatusCounts {
    running: number;
    queued: number;
    succeeded: number;
    failed: number;
}

/** Counts of a status: the server's own numbers where it sent them, the rest from the attempts. */
export function statusCounts(status: Partial<StatusNotification> & { fanouts: Fanout[] }): StatusCounts {
    const all = status.fanouts.flatMap((f) => f.attempts);
    const count = (s: AttemptState) => all.filter((a) => a.state === s).length;
    return {
        running: status.running ?? count('running'),
        queued: count('queued'),
        succeeded: status.succeeded ?? count('succeeded'),
        failed: status.failed ?? count('failed'),
    };
}

/** The status bar text: `$(sync~spin) 2 running $(check) 1`, `$(check) 3 $(error) 1`, or `$(repo-forked) fanout`. */
export function statusBarText(counts: StatusCounts): string {
    const parts: string[] = [];
    if (counts.running > 0) parts.push(`$(sync~spin) ${counts.running} running`);
    if (counts.queued > 0) parts.push(`$(clock) ${counts.queued} queued`);
    if (counts.succeeded > 0) parts.push(`$(check) ${counts.succeeded}`);
    if (counts.failed > 0) parts.push(`$(error) ${counts.failed}`);
    if (parts.length === 0) return '$(repo-forked) fanout';
    return parts.join(' ');
}

/** What a screen reader says for the status bar item (also what the e2e test waits for). */
export function statusBarLabel(counts: StatusCounts): string {
    const queued = counts.queued > 0 ? `, ${counts.queued} queued` : '';
    return `fanout: ${counts.running} running${queued}, ${counts.succeeded} succeeded, ${counts.failed} failed`;
}

/** One line per attempt as in the server's lenses: `⟳ running 1m12s`, `✓ +12 −3`, `✗ exit 1`. */
export function attemptSummary(attempt: Attempt, nowSecs: number): string {
    const elapsed = elapsedSecs(attempt, nowSecs);
    switch (attempt.state) {
        case 'queued':
            return '… queued';
        case 'running':
            return `\u27f3 running${elapsed != null ? ' ' + formatElapsed(elapsed) : ''}`;
        case 'succeeded': {
            const d = attempt.diffstat;
            return d ? `\u2713 ${formatDiffstat(d.additions, d.deletions)}` : '\u2713 succeeded';
        }
        case 'failed':
            return attempt.exit_code != null ? `\u2717 exit ${attempt.exit_code}` : '\u2717 failed';
        case 'cancelled':
            return '\u2298 cancelled';
        case 'interrupted':
            return '\u26a0 interrupted';
        case 'empty':
            return '\u2205 no changes';
    }
    return attempt.state;
}

/** The status bar tooltip: every fanout with its attempts. */
export function statusTooltip(fanouts: Fanout[], nowSecs: number): string {
    if (fanouts.length === 0) return 'fanout: no attempts yet. Run "Fanout: Try N Approaches" on a TODO.';
    const lines: string[] = [];
    for (const f of fanouts) {
        lines.push(`${taskTitle(f)} (${taskLocation(f)})`);
        for (const a of f.attempts) {
            const best = f.best === a.id ? ' \u2605 best' : '';
            lines.push(`    ${attemptName(a)}  ${attemptSummary(a, nowSecs)}${best}`);
        }
    }
    lines.push('', 'Click to show the attempts.');
    return lines.join('\n');
}

export interface AttemptItemText {
    label: string;
    description: string;
    detail: string;
}

/** A row of "Show Attempts": state, agent, diffstat and elapsed time. */
export function attemptItem(fanout: Fanout, attempt: Attempt, nowSecs: number): AttemptItemText {
    const parts = [describeState(attempt)];
    const d = attempt.diffstat;
    if (d && attempt.state !== 'empty') {
        parts.push(`${formatDiffstat(d.additions, d.deletions)} in ${d.files} file${d.files === 1 ? '' : 's'}`);
    }
    const elapsed = elapsedSecs(attempt, nowSecs);
    if (elapsed != null) parts.push(formatElapsed(elapsed));
    if (fanout.best === attempt.id) parts.push('\u2605 best');
    return {
        label: `${stateIcon(attempt.state)} ${attemptName(attempt)}`,
        description: parts.join(' \u00b7 '),
        // The pick groups attempts under their task; the detail says where the attempt lives.
        detail: [attempt.id, attempt.branch, attempt.error].filter((x) => !!x).join(' \u00b7 '),
    };
}

/** Fanouts newest first, attempts in order: the order of every pick. */
export function sortFanouts(fanouts: Fanout[]): Fanout[] {
    return [...fanouts]
        .sort((a, b) => (b.created_at ?? 0) - (a.created_at ?? 0))
        .map((f) => ({ ...f, attempts: [...f.attempts].sort((x, y) => x.n - y.n) }));
}

export type AttemptAction = 'diff' | 'accept' | 'discard' | 'cancel' | 'log';

/** What can be done to an attempt in its state, in the order offered. */
export function attemptActions(attempt: Attempt): AttemptAction[] {
    const actions: AttemptAction[] = [];
    if (hasWorktree(attempt)) actions.push('diff');
    if (attempt.state === 'succeeded' && hasChanges(attempt)) actions.push('accept');
    if (!isFinished(attempt.state)) actions.push('cancel');
    actions.push('log', 'discard');
    return actions;
}

/** `fanout: 2 of 3 attempts succeeded for "TODO: handle empty input"` */
export function finishMessage(fanout: Fanout): string {
    const ok = fanout.attempts.filter((a) => a.state === 'succeeded').length;
    const total = fanout.attempts.length;
    return `fanout: ${ok} of ${total} attempt${total === 1 ? '' : 's'} succeeded for "${taskTitle(fanout)}"`;
}

/** The server's own finish message (window/showMessage); the extension shows a richer one. */
export function isFinishMessage(text: string): boolean {
    return /^fanout: \d+ of \d+ attempts? succeeded for /.test(text);
}

/** The best attempt to open: the server's `best`, else the first succeeded one with changes. */
export function bestAttempt(fanout: Fanout): Attempt | undefined {
    const best = fanout.attempts.find((a) => a.id === fanout.best);
    if (best) return best;
    return fanout.attempts.find((a) => a.state === 'succeeded' && hasChanges(a));
}

/** Row of the changed-files pick: `src/lib.rs`, `modified +1 −1`. */
export function diffFileItem(file: DiffFile): { label: string; description: string } {
    const icon =
        file.status === 'added'
            ? '$(diff-added)'
            : file.status === 'deleted'
              ? '$(diff-removed)'
              : file.status === 'conflicted'
                ? '$(warning)'
                : '$(diff-modified)';
    return { label: `${icon} ${file.path}`, description: `${file.status} ${formatDiffstat(file.additions, file.deletions)}` };
}

/** The diff editor's title: `lib.rs: yours ↔ #2 codex`. */
export function diffTitle(path: string, attempt: Pick<Attempt, 'n' | 'agent'> | undefined, attemptId: string): string {
    const base = path.split('/').pop() || path;
    const who = attempt ? `#${attempt.n} ${attempt.agent}` : attemptId;
    return `${base}: yours \u2194 ${who}`;
}

/** Validates the "how many attempts" input: undefined when fine, else the problem. */
export function validateCount(text: string, max = 64): string | undefined {
    const t = text.trim();
    if (!/^\d+$/.test(t)) return 'A whole number of attempts, like 3';
    const n = Number(t);
    if (n < 1) return 'At least 1 attempt';
    if (n > max) return `At most ${max} attempts`;
    return undefined;
}

/**
 * Tells which fanouts have just finished, so the extension notifies once per fanout: those that
 * were seen unfinished, or started from this window, or appeared after the first status.
 */
export class FinishTracker {
    private readonly seen = new Map<string, boolean>(); // fanout id -> finished when last seen
    private readonly expected = new Set<string>();
    private readonly notified = new Set<string>();
    private hasBaseline = false;

    /** The fanouts that existed when the window connected: none of them is announced. */
    baseline(fanouts: Fanout[]): void {
        for (const f of fanouts) {
            if (!this.seen.has(f.id)) this.seen.set(f.id, fanoutFinished(f));
            if (fanoutFinished(f) && !this.expected.has(f.id)) this.notified.add(f.id);
        }
        this.hasBaseline = true;
    }

    /** A fanout this window started. */
    expect(fanoutId: string): void {
        this.expected.add(fanoutId);
    }

    /** Records a new status; returns the fanouts that finished since the last one. */
    update(fanouts: Fanout[]): Fanout[] {
        const done: Fanout[] = [];
        for (const f of fanouts) {
            const finished = fanoutFinished(f);
            const before = this.seen.get(f.id);
            const announce =
                finished &&
                !this.notified.has(f.id) &&
                (before === false || this.expected.has(f.id) || (before === undefined && this.hasBaseline));
            this.seen.set(f.id, finished);
            if (announce) {
                this.notified.add(f.id);
                done.push(f);
            } else if (finished && before === undefined && !this.hasBaseline) {
                this.notified.add(f.id);
            }
        }
        this.hasBaseline = true;
        return done;
    }
}
