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
}

/** Finished worktrees kept for the next fork to reuse. */
export interface Pool {
    worktrees: number;
    bytes: number;
}

/** `fanout/status`, sent whenever an attempt of the repository changes state. */
export interface StatusNotification extends Counts {
    fanouts: Fanout[];
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
    'fanout.accept': [{ attempt: string }, AcceptResult];
    'fanout.discard': [AttemptOrFanout, ActedOn];
    'fanout.cancel': [AttemptOrFanout, ActedOn];
    'fanout.log': [{ attempt: string; tail?: number }, { text: string }];
    'fanout.continue': [{ attempt: string; prompt: string }, { attempt: string }];
    'fanout.agents': [{ uri?: string }, AgentsResult];
    'fanout.config': [{ uri?: string }, ConfigResult];
}
export type ServerCommand = keyof ServerCommands;

/** Settings forwarded to the server (initializationOptions and didChangeConfiguration). */
export interface ServerSettings {
    attempts?: number;
    agents?: string[];
    logLevel?: string;
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
