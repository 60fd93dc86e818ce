// The one place that mirrors fanout's protocol (docs/protocol.md): command names, their
// argument and result shapes, and the server-to-client notifications. Everything else in the
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
    state: AttemptState;
    branch?: string | null;
    worktree?: string | null;
    started_at?: number | null;
    finished_at?: number | null;
    elapsed_secs?: number | null;
    exit_code?: number | null;
    /** null until the attempt has finished. */
    diffstat?: Diffstat | null;
    disk_bytes?: number | null;
    error?: string | null;
}

export interface Task {
    file: string;
    /** 1-based, like the CLI (LSP lines are 0-based). */
    line: number;
    marker: string;
    text: string;
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

/** `fanout.status` and `fanout status --json`. */
export interface StatusResult {
    repo?: string;
    fanouts: Fanout[];
}

/** `fanout/status`, sent whenever an attempt of the repository changes state. */
export interface StatusNotification {
    running: number;
    succeeded: number;
    failed: number;
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
}

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

export interface AcceptResult {
    applied: boolean;
    conflicts?: string[];
}

export type AttemptOrFanout = { attempt: string } | { fanout: string };
export interface ActedOn {
    attempts: string[];
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
