// What the "Fanout" tree view shows, and what its selections mean: pure functions of the
// protocol's JSON (no `vscode` import), unit-tested under plain node. Labels, icons and what
// can be done come from the server (`title`, `can_accept`, `can_diff`, the verdict); these
// functions only place them.
import type { Attempt, DiffFile, Fanout, HunkInfo, Verdict } from './lsp_ext';
import { diffFileItem, taskLabel, taskLocation } from './format';

/**
 * A node of the tree. Attempt, file and hunk nodes carry `attempt` (and file nodes `uri`), so
 * the commands that take `{attempt, uri?}` (Open Attempt Diff, Accept Attempt, ...) take them
 * as they are.
 */
export type Node =
    | { kind: 'fanout'; fanout: string }
    | { kind: 'attempt'; fanout: string; attempt: string }
    | { kind: 'file'; fanout: string; attempt: string; uri: string; file: DiffFile }
    | { kind: 'hunk'; fanout: string; attempt: string; hunk: HunkInfo };

export interface ItemText {
    /** Stable across refreshes, so expansion and selection stay. */
    id: string;
    label: string;
    description?: string;
    tooltip?: string;
    /** `viewItem` of package.json's menus. */
    contextValue: string;
    /** What a screen reader says for the row, when the label alone is not enough. */
    accessibility?: string;
}

export function fanoutItem(fanout: Fanout): ItemText {
    const n = fanout.attempts.length;
    const parts = [fanout.id, `${n} attempt${n === 1 ? '' : 's'}`];
    if (fanout.review && fanout.review.state !== 'succeeded') parts.push(`review ${fanout.review.state}`);
    const tip = [`${taskLabel(fanout)} (${taskLocation(fanout)})`, `fanout ${fanout.id}`];
    if (fanout.review?.error) tip.push(`review: ${fanout.review.error}`);
    return { id: `fanout:${fanout.id}`, label: taskLabel(fanout), description: parts.join(' \u00b7 '), tooltip: tip.join('\n'), contextValue: 'fanout' };
}

/** The judge's entry on attempt number `n`, if the verdict has one. */
export function judgeOn(verdict: Verdict | null | undefined, n: number): Verdict['attempts'][number] | undefined {
    return verdict?.attempts.find((a) => a.attempt === n);
}

/** The verify result as a line: `verify passed (8.1s)`, `verify failed (exit 101)`. */
export function verifyLine(attempt: Attempt): string | undefined {
    const v = attempt.verify;
    if (!v) return undefined;
    const secs = `${(v.duration_ms / 1000).toFixed(1)}s`;
    if (v.passed) return `verify passed (${secs})`;
    return `verify failed (${v.exit_code != null ? `exit ${v.exit_code}, ` : ''}${secs})`;
}

/** An attempt row: the server's title; the tooltip adds the judge's words and the verify result. */
export function attemptItem(attempt: Attempt, verdict?: Verdict | null): ItemText {
    const tip = [attempt.title, attempt.id];
    const judged = judgeOn(verdict, attempt.n);
    if (judged) {
        const rank = attempt.judge_rank ?? (verdict ? verdict.ranking.indexOf(attempt.n) + 1 : 0);
        tip.push('', `judge${verdict ? ` (${verdict.agent})` : ''}: #${rank > 0 ? rank : '?'}${verdict?.best === attempt.n ? ', best' : ''}: ${judged.summary}`);
        for (const s of judged.strengths ?? []) tip.push(`  + ${s}`);
        for (const r of judged.risks ?? []) tip.push(`  \u2212 ${r}`);
    } else if (attempt.judge_summary) {
        tip.push('', `judge: ${attempt.judge_summary}`);
    }
    const verify = verifyLine(attempt);
    if (verify || attempt.error || attempt.stalled) tip.push('');
    if (verify) tip.push(verify);
    if (attempt.stalled) tip.push(attempt.stalled);
    if (attempt.error) tip.push(attempt.error);
    const flags = [attempt.can_accept ? 'canAccept' : '', attempt.can_diff ? 'canDiff' : ''].filter((f) => f).join(' ');
    return {
        id: `attempt:${attempt.id}`,
        label: attempt.title,
        description: attempt.state,
        tooltip: tip.join('\n'),
        contextValue: flags ? `attempt ${flags}` : 'attempt',
    };
}

export function fileItem(attemptId: string, file: DiffFile): ItemText {
    const row = diffFileItem(file);
    return {
        id: `file:${attemptId}:${file.path}`,
        // The pick's row without its icon: the tree shows the file's own icon.
        label: file.path,
        description: row.description,
        contextValue: 'file',
    };
}

/** `lines 10–16`, or what a whole-file hunk is (`new file`). */
export function hunkLines(hunk: HunkInfo): string {
    if (hunk.kind === 'file') return hunk.text.split('\n')[0];
    const start = hunk.new_start;
    const end = hunk.new_lines === 0 ? hunk.new_start : hunk.new_start + hunk.new_lines - 1;
    return start === end ? `line ${start}` : `lines ${start}\u2013${end}`;
}

/** `attemptName`: `#1 claude`, for the screen reader's line. */
export function hunkItem(hunk: HunkInfo, attemptName?: string): ItemText {
    return {
        accessibility: `hunk ${hunk.id} of ${attemptName ?? hunk.attempt}: ${hunk.path} ${hunkLines(hunk)}`,
        id: `hunk:${hunk.attempt}:${hunk.id}`,
        label: `${hunkLines(hunk)} +${hunk.additions} \u2212${hunk.deletions}`,
        description: `hunk ${hunk.id}`,
        tooltip: `${hunk.path}, hunk ${hunk.id} of ${hunk.attempt}\n\n${hunk.text}`,
        contextValue: 'hunk',
    };
}

/** The 0-based line of the attempt's side where a hunk starts (for the diff editor's cursor). */
export function hunkLine(hunk: HunkInfo): number {
    if (hunk.kind === 'file') return 0;
    return Math.max(0, hunk.new_start - 1);
}

/** The hunks of a file, in order. */
export function hunksOf(hunks: HunkInfo[], path: string): HunkInfo[] {
    return hunks.filter((h) => h.path === path).sort((a, b) => a.new_start - b.new_start);
}

/** The hunk under a 0-based line of the attempt's side of a diff editor. */
export function hunkAt(hunks: HunkInfo[], line: number): HunkInfo | undefined {
    const l = line + 1;
    return (
        hunks.find((h) => h.kind === 'file') ??
        hunks.find((h) => l >= h.new_start && l < h.new_start + Math.max(1, h.new_lines))
    );
}

/**
 * The `fanout.accept` argument for hunks picked in the tree: the attempt's id when they are all
 * of one attempt, else the fanout's (the server then takes each hunk from the attempt that has
 * it); an error when they belong to several fanouts or there are none.
 */
export function hunkChoice(nodes: readonly Node[]): { attempt: string; hunks: string[] } | { error: string } {
    const hunks = nodes.filter((n): n is Extract<Node, { kind: 'hunk' }> => n.kind === 'hunk');
    if (hunks.length === 0) return { error: 'select one or more hunks in the Fanout view first' };
    const fanouts = [...new Set(hunks.map((h) => h.fanout))];
    if (fanouts.length > 1) return { error: `the selected hunks belong to ${fanouts.length} fanouts (${fanouts.join(', ')}); choose hunks of one` };
    const attempts = [...new Set(hunks.map((h) => h.attempt))];
    const ids = [...new Set(hunks.map((h) => h.hunk.id))];
    return { attempt: attempts.length === 1 ? attempts[0] : fanouts[0], hunks: ids };
}

/** What the accept messages call the chosen hunks: `2 hunks of #1 fake, #2 fake`. */
export function hunksName(nodes: readonly Node[], nameOf: (attempt: string) => string): string {
    const hunks = nodes.filter((n) => n.kind === 'hunk');
    const attempts = [...new Set(hunks.map((h) => h.attempt))].map(nameOf);
    const ids = new Set(hunks.map((h) => (h.kind === 'hunk' ? h.hunk.id : '')));
    return `${ids.size} hunk${ids.size === 1 ? '' : 's'} of ${attempts.join(', ')}`;
}

// ---- Compare Attempts ---------------------------------------------------------------------
