// What the "Fanout" tree view shows, and what its selections mean: pure functions of the
// protocol's JSON (no `vscode` import), unit-tested under plain node. Labels, icons and what
// can be done come from the server (`title`, `can_accept`, `can_diff`, the verdict, a task
// list item's `label`, a run's `summary`); these functions only place them.
import type { Attempt, Batch, BatchItem, DiffFile, Fanout, HunkInfo, Verdict } from './lsp_ext';
import { diffFileItem, sortFanouts, taskLabel, taskLocation } from './format';

/**
 * A node of the tree. Attempt, file and hunk nodes carry `attempt` (and file nodes `uri`), so
 * the commands that take `{attempt, uri?}` (Open Attempt Diff, Accept Attempt, ...) take them
 * as they are; so do a task list item (its chosen attempt) and an integration. A run carries
 * `batch`, which Integrate takes.
 */
export type Node =
    | { kind: 'run'; batch: string }
    | { kind: 'item'; batch: string; number: number; fanout?: string; attempt?: string }
    | { kind: 'integration'; batch: string; fanout: string; attempt: string }
    | { kind: 'fanout'; fanout: string }
    | { kind: 'attempt'; fanout: string; attempt: string }
    | { kind: 'file'; fanout: string; attempt: string; uri: string; file: DiffFile }
    | { kind: 'hunk'; fanout: string; attempt: string; hunk: HunkInfo };

// ---- task list runs -----------------------------------------------------------------------

/**
 * The tree's top level: task list runs (newest first), then the fanouts that are none of a
 * run's (a run's items' fanouts and its integration's show under the run).
 */
export function rootNodes(fanouts: Fanout[], batches: Batch[]): Node[] {
    const inRun = new Set<string>();
    for (const b of batches) {
        for (const item of b.items) if (item.fanout) inRun.add(item.fanout);
        if (b.integration) inRun.add(b.integration.fanout);
    }
    const runs: Node[] = [...batches].sort((a, b) => b.created_at - a.created_at).map((b) => ({ kind: 'run', batch: b.id }));
    const rest: Node[] = sortFanouts(fanouts)
        .filter((f) => !inRun.has(f.id))
        .map((f) => ({ kind: 'fanout', fanout: f.id }));
    return [...runs, ...rest];
}

/** A run's rows: its items in order, then its integration once there is one. */
export function runChildren(batch: Batch): Node[] {
    const nodes: Node[] = [...batch.items]
        .sort((a, b) => a.number - b.number)
        .map((item) => {
            const node: Node = { kind: 'item', batch: batch.id, number: item.number };
            if (item.fanout) node.fanout = item.fanout;
            if (item.chosen) node.attempt = item.chosen;
            return node;
        });
    const i = batch.integration;
    if (i) nodes.push({ kind: 'integration', batch: batch.id, fanout: i.fanout, attempt: i.attempt });
    return nodes;
}

/** An item's rows: the attempts of its fanout, as for any fanout (none before it starts). */
export function itemChildren(item: BatchItem, fanouts: Fanout[]): Node[] {
    const f = item.fanout ? fanouts.find((x) => x.id === item.fanout) : undefined;
    if (!f) return [];
    return sortFanouts([f])[0].attempts.map((a) => ({ kind: 'attempt', fanout: f.id, attempt: a.id }));
}

/** `canAccept canDiff` as the server says of an attempt, for the menus' `viewItem`. */
function flags(attempt: Attempt | undefined): string {
    if (!attempt) return '';
    return [attempt.can_accept ? 'canAccept' : '', attempt.can_diff ? 'canDiff' : ''].filter((f) => f).join(' ');
}

/** A run row: its task list and the server's summary (`2 items: 1 merged, 1 running`). */
export function runItem(batch: Batch): ItemText {
    const tip = [`task list ${batch.file}, run ${batch.id}`, batch.summary];
    if (batch.integration) tip.push(`integration ${batch.integration.attempt} on ${batch.integration.branch}`);
    return {
        id: `run:${batch.id}`,
        label: batch.file,
        description: `${batch.summary} \u00b7 run ${batch.id}`,
        tooltip: tip.join('\n'),
        contextValue: 'run',
    };
}

/**
 * An item row: its number and title, then the server's `label` for it (`★ 7f3a9c-2 ready to
 * integrate`, `✓ merged 7f3a9c-2`). `chosen`: the attempt the integration takes, if the status
 * has it; the row offers what the server allows that attempt.
 */
export function itemItem(batch: Batch, item: BatchItem, chosen?: Attempt): ItemText {
    const tip = [`${item.number}. ${item.title} (${batch.file}:${item.line})`, item.label];
    if (item.fanout) tip.push(`fanout ${item.fanout}`);
    if (chosen) tip.push(`the integration takes ${chosen.title} (${chosen.id})`);
    const f = flags(chosen);
    return {
        id: `item:${batch.id}:${item.number}`,
        label: `${item.number}. ${item.title}`,
        description: item.label,
        tooltip: tip.join('\n'),
        contextValue: f ? `item ${f}` : 'item',
    };
}

/** The integration row: the server's title of its attempt; diffed and accepted like one. */
export function integrationItem(batch: Batch, attempt?: Attempt): ItemText {
    const i = batch.integration;
    const tip = [`the integration of ${batch.file} (run ${batch.id})`];
    if (i) tip.push(`${i.attempt} on ${i.branch}`, i.worktree);
    if (attempt) tip.push('', attempt.title);
    const f = flags(attempt);
    return {
        id: `integration:${batch.id}`,
        label: 'integration',
        description: attempt?.title ?? i?.attempt,
        tooltip: tip.join('\n'),
        contextValue: f ? `integration ${f}` : 'integration',
    };
}

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
