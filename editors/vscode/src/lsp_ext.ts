// The one place that mirrors fanout's protocol: `server/src/proto.rs` (documented in
// docs/protocol.md): command names, their argument and result shapes, and the
// server-to-client notifications; server/tests/protocol_mirror.rs checks the command names
// of the three agree. Everything else in the
// extension goes through these types.
//
// Only `import type` at the top: the pure modules (format.ts, ...) import these types and are
// unit-tested under plain node, where `vscode` does not exist.
import type * as lc from 'vscode-languageclient/node';

export type AttemptState =
    | 'queued'
    | 'running'
    | 'succeeded'
    | 'failed'
    | 'cancelled'
    | 'interrupted'
    | 'empty';

export interface Diffstat {
    files: number;
    additions: number;
    deletions: number;
}

export interface Attempt {
    id: string;
    fanout: string;
    n: number;
    agent: string;
    /** The model its agent runs with, when one is named. */
    model?: string | null;
    permissions?: 'edits' | 'edits+verify' | 'full' | null;
    /** While running: why it looks stuck. */
    stalled?: string | null;
    state: AttemptState;
    branch?: string | null;
    worktree?: string | null;
    started_at?: number | null;
    finished_at?: number | null;
    elapsed_secs?: number | null;
    /** `elapsed_secs` as people read it: `45s`, `1m12s`, `2h05m`. */
    elapsed?: string | null;
    exit_code?: number | null;
    /** null until the attempt has finished. */
    diffstat?: Diffstat | null;
    disk_bytes?: number | null;
    error?: string | null;
    /** When its change was accepted into the user's files (seconds since the epoch). */
    accepted_at?: number | null;
    /** What to show for it: the same text as its code lens (escaped by the server). */
    title: string;
    /** Its state's icon: `…` `⟳` `✓` `✗` `⊘` `!` `∅`. */
    icon: string;
    /** Finished, with changes, its worktree there. */
    can_accept: boolean;
    /** It has files to diff. */
    can_diff: boolean;
    /** Its place in the judge's ranking (1 = best), once there is a verdict. */
    judge_rank?: number | null;
    /** The judge's one line on it. */
    judge_summary?: string | null;
    /** For a synthesis (`fanout.synthesize`): the attempts it drew on, by number. */
    synthesis_of?: number[] | null;
    /** Its verify command's result, once it ran. */
    verify?: Verify | null;
    /** What the agent does now, and what it has spent. */
    activity?: Activity | null;
    /** While queued: its place in the repository's run queue (1 = next to start). */
    queue_position?: number | null;
}

export interface Verify {
    passed: boolean;
    exit_code?: number | null;
    duration_ms: number;
    tail: string[];
}

export interface Activity {
    last?: string | null;
    tokens?: number | null;
    cost_usd?: number | null;
    retrying?: string | null;
}

export interface Task {
    file: string;
    /** 1-based, like the CLI (LSP lines are 0-based). */
    line: number;
    marker: string;
    text: string;
    /** The short label to show, escaped: `TODO: handle empty input`. */
    label?: string;
}

export interface Fanout {
    id: string;
    created_at?: number;
    task: Task;
    prompt?: string;
    snapshot?: string;
    best?: string | null;
    attempts: Attempt[];
    /** Its review's judge run, once one has started. */
    review?: Review | null;
    /** The judge's verdict, once a review succeeded. */
    verdict?: Verdict | null;
}

/** A fanout's review run (`fanout.review`). */
export interface Review {
    id: string;
    agent: string;
    state: AttemptState;
    /** Why it failed: no verdict, an invalid one, the judge's exit. */
    error?: string | null;
    /** The judge's output, its raw verdict included when that was bad. */
    log: string;
}

/** The judge's verdict (docs/protocol.md, "The verdict"). */
export interface Verdict {
    agent: string;
    judged_at: number;
    /** Attempt numbers, best first. */
    ranking: number[];
    best: number;
    attempts: { attempt: number; summary: string; strengths: string[]; risks: string[] }[];
    /** Hunks worth taking from several attempts together (`fanout.accept` with `hunks`). */
    combine: { attempt: number; hunk: string; why?: string | null }[];
}

/** Attempts by state. */
export interface Counts {
    running: number;
    queued: number;
    succeeded: number;
    /** Failed or interrupted. */
    failed: number;
}

/** `fanout.status` and `fanout status --json`. */
export interface StatusResult extends Counts {
    repo?: string;
    fanouts: Fanout[];
    /** The repository's pool of warm worktrees (absent outside a repository). */
    pool?: Pool;
    /** Its task list runs (`fanout.tryAll`, `fanout try --all`). */
    batches?: Batch[];
}

/** Finished worktrees kept for the next fork to reuse. */
export interface Pool {
    worktrees: number;
    bytes: number;
}

/** `fanout/status`, sent whenever an attempt of the repository changes state. */
export interface StatusNotification extends Counts {
    fanouts: Fanout[];
    /** Every task list run of the repositories the server watches. */
    batches?: Batch[];
}

// ---- task lists: fanout.plan, fanout.tryAll, fanout.integrate ----------------------------

/** What an integration did with one item (`outcome` says which). */
export type Outcome =
    | { outcome: 'merged'; attempt: string; commit: string }
    /** `with`: the items (numbers from 1) whose merged change touches the same paths. */
    | { outcome: 'conflicted'; attempt: string; paths: string[]; with: number[] }
    | { outcome: 'verify_broke'; attempt: string; exit_code?: number | null; tail: string[] }
    | { outcome: 'not_ready'; why: string }
    /** `after`: the items (numbers from 1) it waits for. */
    | { outcome: 'waiting'; after: number[] }
    /** Its fanout (the item's `fanout`) was started now, from the integration. */
    | { outcome: 'started' };

/** A task list run in the status: its items and its integration. */
export interface Batch {
    id: string;
    /** The task list, relative to the repository: `TASKS.md`. */
    file: string;
    created_at: number;
    /** `3 items: 1 merged, 2 running`. */
    summary: string;
    items: BatchItem[];
    integration?: Integration | null;
}

export interface BatchItem {
    /** From 1. */
    number: number;
    /** 1-based line in the task list when the run began. */
    line: number;
    title: string;
    fanout?: string | null;
    /** The attempt the integration takes: the user's pick, else the best. */
    chosen?: string | null;
    /** What the last integration did with it. */
    outcome?: Outcome | null;
    /** What editors show on the item's line: `✓ merged 7f3a9c-2`, `⟳ 2 running`. */
    label: string;
}

export interface Integration {
    /** The integration's attempt: diff and accept it like any attempt. */
    attempt: string;
    fanout: string;
    branch: string;
    worktree: string;
    head: string;
    /** How many items are merged into it. */
    merged: number;
}

export interface PlanParams {
    /** The goal. */
    prompt: string;
    /** The task list to write or extend (default TASKS.md at the repository's root). */
    uri?: string;
    agent?: string;
}

/** The argument of the `Plan tasks…` lens: the client asks for the goal, sent as `prompt`. */
export interface PlanLens {
    uri: string;
}

export interface TryAllParams {
    uri: string;
    count?: number;
    agents?: string[];
}

/** The argument of the `Run all K tasks` lens: `count` is the effective attempt count. */
export interface TryAllLens {
    uri: string;
    count: number;
}

export interface StartedItem {
    title: string;
    fanout: string;
    attempts: string[];
}

export interface WaitingItem {
    title: string;
    /** The titles of the items it waits for. */
    after: string[];
}

export interface FailedItem {
    title: string;
    error: string;
}

export interface TryAllResult {
    batch: string;
    file: string;
    started: StartedItem[];
    waiting: WaitingItem[];
    /** Items that could not start (`fanout.integrate` tries them again). */
    failed: FailedItem[];
    warnings?: string[];
}

/** proto.rs `Pick` (renamed here: TypeScript's own `Pick<T, K>` is global): an item (number from 1, or title) and the attempt to integrate for it. */
export interface ItemPick {
    item: string;
    attempt: string;
}

/** The run: `batch`, else the latest run of the task list `uri`, else the latest run. */
export interface IntegrateParams {
    batch?: string;
    uri?: string;
    picks?: ItemPick[];
    /** Start again from the snapshot even if the branch holds commits of the user's. */
    rebuild?: boolean;
}

export type IntegratedItem = {
    number: number;
    title: string;
    fanout?: string | null;
    /** The outcome in words, escaped: what editors show. */
    text: string;
} & Outcome;

export interface IntegrateResult {
    batch: string;
    file: string;
    /** The integration's attempt. */
    attempt: string;
    branch: string;
    worktree: string;
    rebuilt: boolean;
    /** Whether an integrate that was killed mid-way was undone first. */
    recovered: boolean;
    items: IntegratedItem[];
}

export const STATUS_NOTIFICATION = 'fanout/status';

export interface TryParams {
    uri: string;
    /** 0-based (LSP). */
    line: number;
    count?: number;
    agents?: string[];
    prompt?: string;
}
export interface TryResult {
    fanout: string;
    attempts: string[];
    warnings?: string[];
}

/** The argument of the `Try N approaches` lens: `count` is the effective attempt count. */
export interface TryLens {
    uri: string;
    line: number;
    count: number;
}

/** `fanout/finished`, to clients declaring `experimental.fanoutFinished`. */
export interface FinishedNotification {
    fanout: string;
    task: Task;
    total: number;
    succeeded: number;
    best?: string | null;
    message: string;
}

export const FINISHED_NOTIFICATION = 'fanout/finished';

export type FileStatus = 'added' | 'modified' | 'deleted' | 'conflicted';
export interface DiffFile {
    path: string;
    status: FileStatus;
    additions: number;
    deletions: number;
}
export interface DiffResult {
    diff: string;
    files: DiffFile[];
}

export interface AttemptTextResult {
    text: string;
    exists?: boolean;
}

export interface Refused {
    path: string;
    reason: string;
}
/** One hunk of an attempt's change against the fork's snapshot (`fanout.hunks`). */
export interface HunkInfo {
    /** Stable: the same hunk has the same id every time, in every attempt that makes it. */
    id: string;
    attempt: string;
    path: string;
    /** `lines`: some lines of a text file; `file`: the whole file (added, deleted, binary, ...). */
    kind: 'lines' | 'file';
    /** 1-based, as a diff's `@@ -old_start,old_lines +new_start,new_lines @@`. */
    old_start: number;
    old_lines: number;
    new_start: number;
    new_lines: number;
    additions: number;
    deletions: number;
    /** The hunk as a diff shows it, or one line for a whole file. */
    text: string;
}

/** `fanout.compare`: a fanout's attempts side by side. */
export interface CompareResult {
    fanout: string;
    task: Task;
    /** In rank order, as in the status. */
    attempts: Attempt[];
    /** `cells[i]` is attempt `attempts[i]`'s +/- in the file, null where it left it alone. */
    files: { path: string; cells: ({ additions: number; deletions: number } | null)[] }[];
    /** Pairs of attempts (numbers) whose changes touch the same lines (1-based, inclusive). */
    overlaps: { path: string; attempts: [number, number]; lines: [number, number] }[];
    /** Attempts that made the same change; `identical` byte for byte, else but for whitespace and comments. */
    clusters: { attempts: number[]; identical: boolean }[];
    review?: Review | null;
    verdict?: Verdict | null;
    /** All of it as `fanout compare` prints it (escaped): what editors show. */
    text: string;
}

export interface AcceptResult {
    applied: boolean;
    changes?: number;
    /** Paths fanout wrote itself (binary files, modes, ...), not as editor edits. */
    onDisk?: string[];
    conflicts?: string[];
    refused?: Refused[];
    /** Why nothing was applied, in one line. */
    reason?: string;
}

export type AttemptOrFanout = { attempt: string } | { fanout: string };
export interface ActedOn {
    attempts: string[];
    failed?: { attempt: string; error: string }[];
}

export interface AgentInfo {
    name: string;
    /** `built-in`, `user` or `repository`. */
    source: string;
    binary?: string | null;
    version?: string | null;
    usable: boolean;
    argv: string[];
    /** The model its profile sets, if any. */
    model?: string | null;
    /** Whether `NAME:MODEL` can choose its model. */
    takes_model: boolean;
    permissions?: 'edits' | 'edits+verify' | 'full' | null;
    note?: string | null;
}
export interface AgentsResult {
    roster: string[];
    agents: AgentInfo[];
    warning?: string | null;
}

export interface ConfigResult {
    user_config: string;
    user_config_exists: boolean;
    repo?: string | null;
    repo_config?: string | null;
    repo_config_trusted?: boolean | null;
    attempts?: number | null;
    roster: string[];
    worktree_root?: string | null;
    gc_age?: string | null;
    data_dir: string;
    log_file: string;
    problems: string[];
}

/** Every `workspace/executeCommand` command of the server: [argument, result]. */
export interface ServerCommands {
    'fanout.try': [TryParams, TryResult];
    'fanout.status': [Record<string, never>, StatusResult];
    'fanout.diff': [{ attempt: string; uri?: string }, DiffResult];
    'fanout.attemptText': [{ attempt: string; uri: string }, AttemptTextResult];
    'fanout.openDiff': [{ attempt: string; uri?: string }, { path: string }];
    'fanout.accept': [{ attempt: string; hunks?: string[] }, AcceptResult];
    'fanout.discard': [AttemptOrFanout, ActedOn];
    'fanout.cancel': [AttemptOrFanout, ActedOn];
    'fanout.log': [{ attempt: string; tail?: number }, { text: string }];
    'fanout.continue': [{ attempt: string; prompt: string }, { attempt: string }];
    'fanout.agents': [{ uri?: string }, AgentsResult];
    'fanout.config': [{ uri?: string }, ConfigResult];
    'fanout.hunks': [{ attempt: string; uri?: string }, { hunks: HunkInfo[] }];
    'fanout.compare': [{ fanout: string }, CompareResult];
    'fanout.review': [{ fanout: string; agent?: string }, { review: string; agent: string }];
    'fanout.synthesize': [{ fanout: string; agent?: string }, { attempt: string; from: number[] }];
    'fanout.plan': [PlanParams, TryResult];
    'fanout.tryAll': [TryAllParams, TryAllResult];
    'fanout.integrate': [IntegrateParams, IntegrateResult];
}
export type ServerCommand = keyof ServerCommands;

/** Settings forwarded to the server (initializationOptions and didChangeConfiguration). */
export interface ServerSettings {
    attempts?: number;
    agents?: string[];
    logLevel?: string;
    /** Fill idle repositories' pools of warm worktrees. */
    warmPool?: boolean;
}

/**
 * The `{attempt, uri?}` argument of `fanout.openDiff` and friends, as a lens or another
 * extension passes it (a bare id string is accepted too); undefined when absent or malformed,
 * and the command then asks the user which attempt.
 */
export function attemptArg(arg: unknown): { attempt: string; uri?: string } | undefined {
    if (typeof arg === 'string' && arg !== '') return { attempt: arg };
    if (typeof arg !== 'object' || arg === null) return undefined;
    const o = arg as Record<string, unknown>;
    if (typeof o.attempt !== 'string' || o.attempt === '') return undefined;
    return typeof o.uri === 'string' ? { attempt: o.attempt, uri: o.uri } : { attempt: o.attempt };
}

/**
 * The task list argument of the `Plan tasks…`, `Run all K tasks` and `Integrate` lenses (or a
 * tree node's run): what of `{uri, count, batch}` is there and well-formed.
 */
export function taskListArg(arg: unknown): { uri?: string; count?: number; batch?: string } {
    if (typeof arg !== 'object' || arg === null) return {};
    const o = arg as Record<string, unknown>;
    const out: { uri?: string; count?: number; batch?: string } = {};
    if (typeof o.uri === 'string' && o.uri !== '') out.uri = o.uri;
    if (typeof o.count === 'number' && Number.isInteger(o.count) && o.count > 0) out.count = o.count;
    if (typeof o.batch === 'string' && o.batch !== '') out.batch = o.batch;
    return out;
}

/** The fanout a `{fanout}` argument (a tree node, say) names; undefined when absent. */
export function fanoutArg(arg: unknown): string | undefined {
    if (typeof arg !== 'object' || arg === null) return undefined;
    const f = (arg as Record<string, unknown>).fanout;
    return typeof f === 'string' && f !== '' ? f : undefined;
}

/** Runs one server command with its single JSON-object argument. */
export async function execute<C extends ServerCommand>(
    client: lc.BaseLanguageClient,
    command: C,
    params: ServerCommands[C][0],
): Promise<ServerCommands[C][1]> {
    // `workspace/executeCommand` by name: a runtime import of the request type would pull
    // vscode-languageclient (and so `vscode`) into the unit tests.
    return (await client.sendRequest('workspace/executeCommand', {
        command,
        arguments: [params],
    })) as ServerCommands[C][1];
}
