// Where the `fanout` binary comes from: the setting `fanout.server.path`, else `fanout` on PATH,
// else one built in a repository's `target/` (for development: a workspace folder's, or the
// repository this extension is being developed in). Pure: the file system is passed in.
import * as path from 'path';

export type ServerSource = 'setting' | 'PATH' | 'target';

export interface ResolvedServer {
    path: string;
    source: ServerSource;
}

export interface ResolveInput {
    /** The value of `fanout.server.path` (empty or null: unset). */
    setting?: string | null;
    /** The PATH environment variable. */
    pathEnv?: string;
    /** File system paths of the workspace folders. */
    workspaceFolders: string[];
    /** Where the extension is installed; in development, `<repo>/editors/vscode`. */
    extensionPath?: string;
    home?: string;
    platform?: NodeJS.Platform;
    /** Whether the path is an executable file. */
    isExecutable(p: string): boolean;
    /** Modification time in ms, undefined when the file does not exist. */
    mtime(p: string): number | undefined;
}

/** Expands `~` and `${workspaceFolder}`; a relative path is taken from the first folder. */
export function expandSetting(value: string, home: string | undefined, workspaceFolders: string[]): string {
    let v = value.trim();
    const folder = workspaceFolders[0];
    if (folder !== undefined) v = v.split('${workspaceFolder}').join(folder);
    if (home && (v === '~' || v.startsWith('~/'))) v = path.join(home, v.slice(1));
    if (!path.isAbsolute(v) && folder !== undefined) v = path.join(folder, v);
    return v;
}

export function exeName(platform: NodeJS.Platform | undefined): string {
    return platform === 'win32' ? 'fanout.exe' : 'fanout';
}

/** The candidates under `target/`: each folder and the repository around the extension. */
export function targetCandidates(input: Pick<ResolveInput, 'workspaceFolders' | 'extensionPath' | 'platform'>): string[] {
    const roots = [...input.workspaceFolders];
    if (input.extensionPath) roots.push(path.resolve(input.extensionPath, '..', '..'));
    const exe = exeName(input.platform);
    const out: string[] = [];
    for (const root of roots) {
        for (const profile of ['debug', 'release']) {
            const p = path.join(root, 'target', profile, exe);
            if (!out.includes(p)) out.push(p);
        }
    }
    return out;
}

export function resolveServerPath(input: ResolveInput): ResolvedServer | undefined {
    if (input.setting && input.setting.trim() !== '') {
        return { path: expandSetting(input.setting, input.home, input.workspaceFolders), source: 'setting' };
    }
    const exe = exeName(input.platform);
    const delimiter = input.platform === 'win32' ? ';' : ':';
    for (const dir of (input.pathEnv ?? '').split(delimiter)) {
        if (!dir) continue;
        const p = path.join(dir, exe);
        if (input.isExecutable(p)) return { path: p, source: 'PATH' };
    }
    // Several builds (debug and release, several folders): the most recently built wins, as
    // that is the one the developer is working on.
    let best: { path: string; mtime: number } | undefined;
    for (const p of targetCandidates(input)) {
        if (!input.isExecutable(p)) continue;
        const mtime = input.mtime(p) ?? 0;
        if (!best || mtime > best.mtime) best = { path: p, mtime };
    }
    return best ? { path: best.path, source: 'target' } : undefined;
}
