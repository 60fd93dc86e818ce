// How the server's answers are laid out in VS Code: status bar text, quick-pick rows. The
// server decides what an attempt is called (`title`), its icon, its elapsed time, the counts
// and what can be done to it (`can_accept`, `can_diff`); these functions only place them.
// Pure functions of the protocol's JSON (no `vscode` import), unit-tested under plain node.
import type { Attempt, Counts, DiffFile, Fanout } from './lsp_ext';

/** An attempt that will still change: running, or waiting to run. */
export function isActive(attempt: Attempt): boolean {
    return attempt.state === 'queued' || attempt.state === 'running';
}

/** `#2 codex`, for messages about an attempt. */
export function attemptName(attempt: Pick<Attempt, 'n' | 'agent'>): string {
    return `#${attempt.n} ${attempt.agent}`;
}

/** The task as the server labels it: `TODO: handle empty input`. */
export function taskLabel(fanout: Fanout): string {
    return fanout.task.label ?? fanout.task.text;
}

/** `src/lib.rs:12` */
export function taskLocation(fanout: Fanout): string {
    return `${fanout.task.file}:${fanout.task.line}`;
}

/** The status bar text: `$(sync~spin) 2 running $(check) 1`, `$(check) 3 $(error) 1`, or `$(repo-forked) fanout`. */
export function statusBarText(counts: Counts): string {
    const parts: string[] = [];
    if (counts.running > 0) parts.push(`$(sync~spin) ${counts.running} running`);
    if (counts.queued > 0) parts.push(`$(clock) ${counts.queued} queued`);
    if (counts.succeeded > 0) parts.push(`$(check) ${counts.succeeded}`);
    if (counts.failed > 0) parts.push(`$(error) ${counts.failed}`);
    if (parts.length === 0) return '$(repo-forked) fanout';
    return parts.join(' ');
}

/** What a screen reader says for the status bar item (also what the e2e test waits for). */
export function statusBarLabel(counts: Counts): string {
    const queued = counts.queued > 0 ? `, ${counts.queued} queued` : '';
    return `fanout: ${counts.running} running${queued}, ${counts.succeeded} succeeded, ${counts.failed} failed`;
}

/** The status bar tooltip: every fanout with its attempts' titles. */
export function statusTooltip(fanouts: Fanout[]): string {
    if (fanouts.length === 0) return 'fanout: no attempts yet. Run "Fanout: Try N Approaches" on a TODO.';
    const lines: string[] = [];
    for (const f of fanouts) {
        lines.push(`${taskLabel(f)} (${taskLocation(f)})`);
        for (const a of f.attempts) lines.push(`    ${a.title}`);
    }
    lines.push('', 'Click to show the attempts.');
    return lines.join('\n');
}

export interface AttemptItemText {
    label: string;
    description: string;
    detail: string;
}

/** A row of "Show Attempts": the server's title, then state, files and elapsed time. */
export function attemptItem(attempt: Attempt): AttemptItemText {
    const parts: string[] = [attempt.state];
    const d = attempt.diffstat;
    if (d && d.files > 0) parts.push(`${d.files} file${d.files === 1 ? '' : 's'}`);
    if (attempt.elapsed) parts.push(attempt.elapsed);
    return {
        label: attempt.title,
        description: parts.join(' \u00b7 '),
        // The pick groups attempts under their task; the detail says where the attempt lives.
        detail: [attempt.id, attempt.branch, attempt.stalled, attempt.error].filter((x) => !!x).join(' \u00b7 '),
    };
}

/** Fanouts newest first, attempts in order: the order of every pick. */
export function sortFanouts(fanouts: Fanout[]): Fanout[] {
    return [...fanouts]
        .sort((a, b) => (b.created_at ?? 0) - (a.created_at ?? 0))
        .map((f) => ({ ...f, attempts: [...f.attempts].sort((x, y) => x.n - y.n) }));
}

export type AttemptAction = 'diff' | 'accept' | 'discard' | 'cancel' | 'log';

/** What can be done to an attempt, in the order offered: as the server says it can. */
export function attemptActions(attempt: Attempt): AttemptAction[] {
    const actions: AttemptAction[] = [];
    if (attempt.can_diff) actions.push('diff');
    if (attempt.can_accept) actions.push('accept');
    if (isActive(attempt)) actions.push('cancel');
    actions.push('log', 'discard');
    return actions;
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
    return { label: `${icon} ${file.path}`, description: `${file.status} +${file.additions} \u2212${file.deletions}` };
}

/** The diff editor's title: `lib.rs: yours ↔ #2 codex`. */
export function diffTitle(path: string, attempt: Pick<Attempt, 'n' | 'agent'> | undefined, attemptId: string): string {
    const base = path.split('/').pop() || path;
    return `${base}: yours \u2194 ${attempt ? attemptName(attempt) : attemptId}`;
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
