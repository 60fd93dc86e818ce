// One function per command of the palette, plus the handlers of the server commands the
// extension takes over (client.ts, CommandHooks).
import * as path from 'path';
import * as vscode from 'vscode';
import { AttemptDocs } from './attempt_docs';
import type { CommandHooks } from './client';
import { Ctx, errorMessage } from './ctx';
import * as format from './format';
import { CompareDocs } from './compare_docs';
import { attemptArg, fanoutArg, taskListArg } from './lsp_ext';
import type {
    AgentsResult,
    Attempt,
    ConfigResult,
    AttemptOrFanout,
    DiffFile,
    Fanout,
    IntegrateParams,
    IntegrateResult,
    TryAllParams,
    TryAllResult,
    TryLens,
    TryParams,
    TryResult,
} from './lsp_ext';
import { FanoutTree } from './tree';
import * as model from './tree_model';
import type { Node } from './tree_model';
import { decodeQuery, SCHEME } from './attempt_uri';

type Handler = (...args: unknown[]) => Promise<unknown>;

/** Runs a command, showing its failure as an error message rather than a silent rejection. */
function guarded(f: Handler): Handler {
    return async (...args) => {
        try {
            return await f(...args);
        } catch (e) {
            void vscode.window.showErrorMessage(`fanout: ${errorMessage(e)}`);
            return undefined;
        }
    };
}

export function register(ctx: Ctx): void {
    const tree = new FanoutTree(ctx);
    const compareDocs = new CompareDocs(ctx);
    const commands: Record<string, Handler> = {
        'fanout.tryApproaches': () => tryApproaches(ctx),
        'fanout.showAttempts': () => showAttempts(ctx),
        'fanout.openAttemptDiff': (arg) => openAttemptDiff(ctx, arg),
        'fanout.acceptAttempt': (arg) => acceptAttempt(ctx, arg),
        'fanout.discardAttempt': (arg) => discardAttempt(ctx, arg),
        'fanout.cancelAttempt': (arg) => cancelAttempt(ctx, arg),
        'fanout.showAttemptLog': (arg) => showAttemptLog(ctx, arg),
        'fanout.showConfiguration': () => showConfiguration(ctx),
        'fanout.restartServer': () => ctx.restart(),
        'fanout.openTreeDiff': (arg) => openTreeDiff(ctx, arg as Node),
        'fanout.acceptHunks': (arg, selected) => acceptHunks(ctx, pickedNodes(arg, selected)),
        'fanout.acceptSelectedHunks': () => acceptHunks(ctx, tree.selectedHunks()),
        'fanout.acceptHunkAtCursor': () => acceptHunkAtCursor(ctx),
        'fanout.reviewAttempts': (arg) => review(ctx, arg),
        'fanout.compareAttempts': (arg) => compare(ctx, compareDocs, arg),
        'fanout.synthesizeAttempt': (arg) => synthesize(ctx, arg),
        'fanout.refreshTree': async () => tree.refresh(),
        'fanout.focusTree': () => Promise.resolve(vscode.commands.executeCommand('fanout.attempts.focus')),
        'fanout.planTasks': (arg) => planTasks(ctx, arg),
        'fanout.runAllTasks': () => runAllTasks(ctx),
        'fanout.integrateTasks': (arg) => integrateTasks(ctx, arg),
    };
    for (const [name, f] of Object.entries(commands)) {
        ctx.extension.subscriptions.push(vscode.commands.registerCommand(name, guarded(f)));
    }
    ctx.setHandlers(hooks(ctx), {
        showAttempts: () => showAttempts(ctx),
        openDiff: (id) => openDiff(ctx, id),
    });
}

/** The server commands run by its lenses, as the extension handles them. */
function hooks(ctx: Ctx): CommandHooks {
    return {
        openDiff: guarded(async (arg) => {
            const a = attemptArg(arg);
            if (!a) return openAttemptDiff(ctx, undefined);
            return openDiff(ctx, a.attempt, a.uri);
        }),
        accept: guarded(async (arg) => {
            const a = attemptArg(arg);
            if (!a) return acceptAttempt(ctx, undefined);
            return accept(ctx, a.attempt);
        }),
        // Sent by the extension itself rather than through the client's command (`next`),
        // whose own error notification would double ours.
        try: guarded(async (arg) => {
            const result = await ctx.run('fanout.try', arg as TryParams);
            startedMessage(ctx, result);
            return result;
        }),
        plan: guarded((arg) => planTasks(ctx, arg)),
        // The lens says what it runs (`Run all 3 tasks (2 approaches each)`): no questions.
        tryAll: guarded(async (arg) => {
            const { uri, count } = taskListArg(arg);
            if (!uri) return runAllTasks(ctx);
            return runAll(ctx, count !== undefined ? { uri, count } : { uri });
        }),
        integrate: guarded((arg) => integrateTasks(ctx, arg)),
        status: guarded(async () => {
            const status = await ctx.fetchStatus();
            await vscode.commands.executeCommand('fanout.attempts.focus');
            return status;
        }),
    };
}

// ---- Try N Approaches -------------------------------------------------------------------

interface TaskAt {
    line: number;
    /** The effective attempt count, from the lens argument (the server merges the settings). */
    count?: number;
    text: string;
}

/** The task lenses of a document: where the server sees tasks. */
async function tasksOf(doc: vscode.TextDocument): Promise<TaskAt[]> {
    const lenses = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri)) ?? [];
    const tasks: TaskAt[] = [];
    for (const lens of lenses) {
        if (lens.command?.command !== 'fanout.try') continue;
        const arg = lens.command.arguments?.[0] as Partial<Record<keyof TryLens, unknown>> | undefined;
        const line = typeof arg?.line === 'number' ? arg.line : lens.range.start.line;
        if (tasks.some((t) => t.line === line)) continue;
        const count = typeof arg?.count === 'number' ? arg.count : undefined;
        tasks.push({ line, count, text: line < doc.lineCount ? doc.lineAt(line).text.trim() : '' });
    }
    return tasks.sort((a, b) => a.line - b.line);
}

async function pickTask(editor: vscode.TextEditor): Promise<TaskAt | undefined> {
    const cursor = editor.selection.active.line;
    const tasks = await tasksOf(editor.document);
    const here = tasks.find((t) => t.line === cursor);
    if (here) return here;
    if (tasks.length === 0) {
        // No lens (yet): let the server judge the line under the cursor.
        return { line: cursor, text: editor.document.lineAt(cursor).text.trim() };
    }
    if (tasks.length === 1) return tasks[0];
    const items = [...tasks]
        .sort((a, b) => Math.abs(a.line - cursor) - Math.abs(b.line - cursor))
        .map((t) => ({ label: t.text, description: `line ${t.line + 1}`, task: t }));
    const picked = await vscode.window.showQuickPick(items, {
        title: 'Fanout: Try N Approaches',
        placeHolder: 'The cursor is not on a task: which one?',
    });
    return picked?.task;
}

/**
 * A multi-select pick of agents: undefined if dismissed, [] for "the configured roster". The
 * server says which agents there are (`fanout.agents`: built-in, user and repository profiles,
 * whether each is installed, the default roster).
 */
async function pickAgents(ctx: Ctx, count: number, uri: string): Promise<string[] | undefined> {
    const setting = vscode.workspace.getConfiguration('fanout').get<string[]>('agents') ?? [];
    let known: AgentsResult = { roster: [], agents: [] };
    try {
        known = await ctx.run('fanout.agents', { uri });
    } catch (e) {
        void vscode.window.showWarningMessage(`fanout: cannot list the agents: ${errorMessage(e)}`);
    }
    // Models already used in this repository are offered again (`claude:sonnet`).
    const used = ctx.fanouts.flatMap((f) => f.attempts).filter((a) => a.model).map((a) => `${a.agent}:${a.model}`);
    const fixed = agentItems(known, setting, used);
    return new Promise((resolve) => {
        const pick = vscode.window.createQuickPick<vscode.QuickPickItem>();
        pick.title = `Fanout: Try ${count} Approaches`;
        pick.placeholder = 'Agents, rotated through the attempts (none picked: your configured ones). Type NAME:MODEL for a model, like claude:sonnet';
        pick.canSelectMany = true;
        pick.matchOnDescription = true;
        pick.items = fixed;
        pick.selectedItems = fixed.filter((i) => setting.includes(i.label));
        // A typed `NAME:MODEL` of an agent that takes a model becomes a row to pick; picked
        // ones stay when the filter changes.
        const typed = new Map<string, vscode.QuickPickItem>();
        pick.onDidChangeValue((value) => {
            const spec = modelSpec(known, value);
            const kept = pick.selectedItems;
            const extra = [...typed.values()].filter((i) => kept.includes(i));
            if (spec && !fixed.some((i) => i.label === spec) && !extra.some((i) => i.label === spec)) {
                const item = typed.get(spec) ?? { label: spec, description: 'this model, typed' };
                typed.set(spec, item);
                extra.push(item);
            }
            pick.items = [...extra, ...fixed];
            pick.selectedItems = kept;
        });
        let accepted = false;
        pick.onDidAccept(() => {
            accepted = true;
            resolve(pick.selectedItems.map((i) => i.label));
            pick.hide();
        });
        pick.onDidHide(() => {
            if (!accepted) resolve(undefined);
            pick.dispose();
        });
        pick.show();
    });
}

/** The agents to offer: the configured ones, the roster, what is installed, models used before. */
function agentItems(known: AgentsResult, setting: string[], used: string[]): vscode.QuickPickItem[] {
    const installed = known.agents.filter((a) => a.usable).map((a) => a.name);
    const others = known.agents.filter((a) => !a.usable).map((a) => a.name);
    const names = [...new Set([...setting, ...known.roster, ...installed, ...used, ...others])];
    return names.map((name) => {
        const info = known.agents.find((a) => a.name === name);
        const parts: string[] = [];
        if (known.roster.includes(name)) parts.push('default roster');
        if (info) parts.push(info.usable ? info.source : `${info.source}, not installed`);
        if (info?.model) parts.push(`model ${info.model}`);
        if (!info && used.includes(name)) parts.push('used before');
        return { label: name, description: parts.join(' \u00b7 ') || undefined };
    });
}

/** `claude:opus` when `text` is NAME:MODEL of a known agent whose command takes a model. */
function modelSpec(known: AgentsResult, text: string): string | undefined {
    const m = /^\s*([A-Za-z0-9_.-]+):([^\s:,]+)\s*$/.exec(text);
    // A number is a count in `--agents claude:3`, never a model.
    if (!m || /^\d+$/.test(m[2])) return undefined;
    const agent = known.agents.find((a) => a.name === m[1]);
    return agent?.takes_model ? `${m[1]}:${m[2]}` : undefined;
}

async function tryApproaches(ctx: Ctx): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document.uri.scheme !== 'file') {
        void vscode.window.showWarningMessage('fanout: open a file and put the cursor on a TODO first.');
        return;
    }
    await ctx.requireClient();
    const task = await pickTask(editor);
    if (!task) return;
    const defaultCount = task.count ?? 3;
    const countText = await vscode.window.showInputBox({
        title: 'Fanout: Try N Approaches',
        prompt: `How many attempts at "${task.text}"?`,
        value: String(defaultCount),
        validateInput: (v) => format.validateCount(v),
    });
    if (countText === undefined) return;
    const count = Number(countText.trim());
    const agents = await pickAgents(ctx, count, editor.document.uri.toString());
    if (agents === undefined) return;

    const params: TryParams = { uri: editor.document.uri.toString(), line: task.line, count };
    if (agents.length > 0) params.agents = agents;
    const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'fanout: starting attempts' },
        () => ctx.run('fanout.try', params),
    );
    startedMessage(ctx, result);
}

function startedMessage(ctx: Ctx, result: TryResult): void {
    const n = result.attempts.length;
    void vscode.window
        .showInformationMessage(`fanout ${result.fanout}: ${n} attempt${n === 1 ? '' : 's'} started.`, 'Show Attempts')
        .then((choice) => {
            if (choice === 'Show Attempts') return guarded(() => showAttempts(ctx))();
            return undefined;
        });
}

// ---- picking attempts ---------------------------------------------------------------------

type Target = { attempt: Attempt; fanout: Fanout } | { fanout: Fanout; whole: true };

interface TargetItem extends vscode.QuickPickItem {
    target?: Target;
}

/** The fanouts as of now (the server's answer; the last notification if that fails). */
async function currentFanouts(ctx: Ctx): Promise<Fanout[]> {
    try {
        return format.sortFanouts((await ctx.fetchStatus()).fanouts);
    } catch (e) {
        if (ctx.fanouts.length === 0) throw e;
        return format.sortFanouts(ctx.fanouts);
    }
}

async function pickTarget(
    ctx: Ctx,
    opts: { title: string; filter?: (a: Attempt) => boolean; wholeFanouts?: (f: Fanout) => boolean },
): Promise<Target | undefined> {
    const fanouts = await currentFanouts(ctx);
    const items: TargetItem[] = [];
    for (const fanout of fanouts) {
        const attempts = fanout.attempts.filter((a) => !opts.filter || opts.filter(a));
        const whole = opts.wholeFanouts?.(fanout) ?? false;
        if (attempts.length === 0 && !whole) continue;
        items.push({ label: `${format.taskLabel(fanout)} (${format.taskLocation(fanout)})`, kind: vscode.QuickPickItemKind.Separator });
        for (const attempt of attempts) {
            items.push({ ...format.attemptItem(attempt), target: { attempt, fanout } });
        }
        if (whole) {
            items.push({
                label: `$(layers) all ${fanout.attempts.length} attempts of ${fanout.id}`,
                description: format.taskLabel(fanout),
                target: { fanout, whole: true },
            });
        }
    }
    if (!items.some((i) => i.target)) {
        void vscode.window.showInformationMessage(
            fanouts.length === 0 ? 'fanout: no attempts yet. Run "Fanout: Try N Approaches" on a TODO.' : `fanout: no attempt to ${opts.title.toLowerCase()}.`,
        );
        return undefined;
    }
    const picked = await vscode.window.showQuickPick(items, {
        title: `Fanout: ${opts.title}`,
        placeHolder: 'Attempt (state, agent, changes, time)',
        matchOnDescription: true,
        matchOnDetail: true,
    });
    return picked?.target;
}

/** An attempt id from an argument, else picked by the user. */
async function attemptFrom(ctx: Ctx, arg: unknown, title: string, filter?: (a: Attempt) => boolean): Promise<string | undefined> {
    const given = attemptArg(arg);
    if (given) return given.attempt;
    const target = await pickTarget(ctx, { title, filter });
    return target && 'attempt' in target ? target.attempt.id : undefined;
}

function nameOf(ctx: Ctx, id: string): string {
    const run = ctx.findIntegration(id);
    if (run) return `the integration of ${run.file}`;
    const found = ctx.findAttempt(id);
    return found ? format.attemptName(found.attempt) : id;
}

// ---- Show Attempts ------------------------------------------------------------------------

const ACTION_LABELS: Record<format.AttemptAction, string> = {
    diff: '$(diff) Open Diff',
    accept: '$(check) Accept',
    cancel: '$(debug-stop) Cancel',
    log: '$(output) Show Log',
    discard: '$(trash) Discard',
};

async function showAttempts(ctx: Ctx): Promise<void> {
    const target = await pickTarget(ctx, { title: 'Show Attempts' });
    if (!target || !('attempt' in target)) return;
    const { attempt } = target;
    const items = format.attemptActions(attempt).map((action) => ({ label: ACTION_LABELS[action], action }));
    const picked = await vscode.window.showQuickPick(items, {
        title: `Fanout: ${attempt.title}`,
        placeHolder: 'What to do with this attempt',
    });
    if (!picked) return;
    switch (picked.action) {
        case 'diff':
            return openDiff(ctx, attempt.id);
        case 'accept':
            return accept(ctx, attempt.id);
        case 'cancel':
            return act(ctx, 'cancel', { attempt: attempt.id });
        case 'log':
            return showLog(ctx, attempt.id);
        case 'discard':
            return discard(ctx, { attempt: attempt.id }, format.attemptName(attempt));
    }
}

// ---- diffs -----------------------------------------------------------------------------------

async function openAttemptDiff(ctx: Ctx, arg: unknown): Promise<void> {
    const given = attemptArg(arg);
    if (given) return openDiff(ctx, given.attempt, given.uri);
    const id = await attemptFrom(ctx, undefined, 'Open Attempt Diff', (a) => a.can_diff);
    if (id) await openDiff(ctx, id);
}

interface FileItem extends vscode.QuickPickItem {
    file?: DiffFile;
    all?: true;
}

/** The native diff editor for an attempt: one file directly, several through a pick. */
export async function openDiff(ctx: Ctx, attemptId: string, uri?: string, line?: number): Promise<void> {
    const root = await ctx.repoRoot();
    const diff = await ctx.run('fanout.diff', uri ? { attempt: attemptId, uri } : { attempt: attemptId });
    const attempt = ctx.findAttempt(attemptId)?.attempt;
    const files = diff.files;
    if (files.length === 0) {
        const running = attempt && format.isActive(attempt);
        void vscode.window.showInformationMessage(
            running
                ? `fanout: ${nameOf(ctx, attemptId)} has not changed anything yet.`
                : `fanout: ${nameOf(ctx, attemptId)} changes nothing against your current files.`,
        );
        return;
    }
    if (files.length === 1) return openFileDiff(attemptId, attempt, root, files[0], line);

    // The file being edited first: a lens was most likely clicked in it.
    const active = vscode.window.activeTextEditor?.document.uri.fsPath;
    const sorted = [...files].sort((a, b) => Number(path.join(root, b.path) === active) - Number(path.join(root, a.path) === active));
    const items: FileItem[] = sorted.map((file) => ({ ...format.diffFileItem(file), file }));
    items.push({ label: `$(diff-multiple) All ${files.length} files`, description: 'in one multi-file diff editor', all: true });
    const picked = await vscode.window.showQuickPick(items, {
        title: `Fanout: diff of ${nameOf(ctx, attemptId)}`,
        placeHolder: `${files.length} changed files`,
        matchOnDescription: true,
    });
    if (!picked) return;
    if (picked.file) return openFileDiff(attemptId, attempt, root, picked.file);
    // A missing side is how the multi-file editor shows an added (or deleted) file.
    const resources = files.map((file) => {
        const [left, right, fileUri] = diffSides(attemptId, root, file);
        return [fileUri, file.status === 'added' ? undefined : left, file.status === 'deleted' ? undefined : right];
    });
    try {
        await vscode.commands.executeCommand('vscode.changes', `yours \u2194 ${nameOf(ctx, attemptId)}`, resources);
    } catch {
        // No multi-diff editor in this VS Code: the first file, the pick again for the others.
        await openFileDiff(attemptId, attempt, root, files[0]);
    }
}

/** [left: yours, right: the attempt's, the workspace file]. */
function diffSides(attemptId: string, root: string, file: DiffFile): [vscode.Uri, vscode.Uri, vscode.Uri] {
    const fileUri = vscode.Uri.file(path.join(root, file.path));
    // The live file: VS Code diffs its open buffer, unsaved changes included.
    const left = file.status === 'added' ? AttemptDocs.emptyUri(fileUri) : fileUri;
    return [left, AttemptDocs.attemptUri(attemptId, fileUri), fileUri];
}

/** `line`: 0-based, of the attempt's side, where to put the cursor (a hunk's start). */
async function openFileDiff(attemptId: string, attempt: Attempt | undefined, root: string, file: DiffFile, line?: number): Promise<void> {
    const [left, right] = diffSides(attemptId, root, file);
    const options: vscode.TextDocumentShowOptions = { preview: false };
    if (line !== undefined) options.selection = new vscode.Range(line, 0, line, 0);
    await vscode.commands.executeCommand('vscode.diff', left, right, format.diffTitle(file.path, attempt, attemptId), options);
}

// ---- accept, discard, cancel, log ----------------------------------------------------------

async function acceptAttempt(ctx: Ctx, arg: unknown): Promise<void> {
    const id = await attemptFrom(ctx, arg, 'Accept Attempt', (a) => a.can_accept);
    if (id) await accept(ctx, id);
}

/**
 * The server merges and sends one WorkspaceEdit (so Ctrl+Z undoes it), or lists conflicts.
 * With `hunks`, only those (`attemptId` may then be a fanout's id: hunks of several attempts).
 */
async function accept(ctx: Ctx, attemptId: string, hunks?: { ids: string[]; name: string; diffAttempt: string }): Promise<void> {
    const name = hunks ? hunks.name : nameOf(ctx, attemptId);
    const result = await ctx.run('fanout.accept', hunks ? { attempt: attemptId, hunks: hunks.ids } : { attempt: attemptId });
    if (result.applied) {
        // The task line has changed: its lenses with it.
        ctx.refreshLenses();
        void vscode.window.showInformationMessage(`fanout: accepted ${name}. Undo with Ctrl+Z; save to keep it.`);
        return;
    }
    const conflicts = result.conflicts ?? [];
    // Refused paths (a symlink on the way, an untracked file in the way, ...) say why, in
    // the server's words; plain conflicts name the files.
    const refused = result.refused ?? [];
    const message =
        refused.length > 0
            ? `fanout: ${name} was not applied: ${refused.map((r) => `${r.path} ${r.reason}`).join('; ')}.`
            : conflicts.length > 0
              ? `fanout: ${name} conflicts with your changes in ${conflicts.join(', ')}. Nothing was applied.`
              : `fanout: ${name} was not applied${result.reason ? `: ${result.reason}` : '.'}`;
    const choice = await vscode.window.showWarningMessage(message, 'Open Diff');
    if (choice === 'Open Diff') await openDiff(ctx, hunks?.diffAttempt ?? attemptId);
}

async function discardAttempt(ctx: Ctx, arg: unknown): Promise<void> {
    const given = attemptArg(arg);
    if (given) return discard(ctx, { attempt: given.attempt }, nameOf(ctx, given.attempt));
    const fanout = fanoutArg(arg);
    if (fanout) {
        const n = ctx.fanouts.find((f) => f.id === fanout)?.attempts.length ?? 0;
        return discard(ctx, { fanout }, `all ${n} attempts of ${fanout}`);
    }
    const target = await pickTarget(ctx, { title: 'Discard Attempt', wholeFanouts: (f) => f.attempts.length > 1 });
    if (!target) return;
    if ('attempt' in target) return discard(ctx, { attempt: target.attempt.id }, format.attemptName(target.attempt));
    return discard(ctx, { fanout: target.fanout.id }, `all ${target.fanout.attempts.length} attempts of ${target.fanout.id}`);
}

async function discard(ctx: Ctx, target: AttemptOrFanout, what: string): Promise<void> {
    const choice = await vscode.window.showWarningMessage(
        `Discard ${what}?`,
        { modal: true, detail: 'Its worktree and branch are deleted.' },
        'Discard',
    );
    if (choice === 'Discard') await act(ctx, 'discard', target);
}

async function cancelAttempt(ctx: Ctx, arg: unknown): Promise<void> {
    const given = attemptArg(arg);
    if (given) return act(ctx, 'cancel', { attempt: given.attempt });
    const running = format.isActive;
    const target = await pickTarget(ctx, {
        title: 'Cancel Attempt',
        filter: running,
        wholeFanouts: (f) => f.attempts.filter(running).length > 1,
    });
    if (!target) return;
    await act(ctx, 'cancel', 'attempt' in target ? { attempt: target.attempt.id } : { fanout: target.fanout.id });
}

async function act(ctx: Ctx, what: 'discard' | 'cancel', target: AttemptOrFanout): Promise<void> {
    const result = await ctx.run(what === 'discard' ? 'fanout.discard' : 'fanout.cancel', target);
    const n = result.attempts.length;
    const verb = what === 'discard' ? 'discarded' : 'cancelled';
    void vscode.window.showInformationMessage(
        n === 0 ? `fanout: nothing to ${what}.` : `fanout: ${verb} ${result.attempts.map((id) => nameOf(ctx, id)).join(', ')}.`,
    );
}

async function showAttemptLog(ctx: Ctx, arg: unknown): Promise<void> {
    const id = await attemptFrom(ctx, arg, 'Show Attempt Log');
    if (id) await showLog(ctx, id);
}

/** The agent's output, in the "fanout: attempt log" output channel. */
async function showLog(ctx: Ctx, attemptId: string): Promise<void> {
    const { text } = await ctx.run('fanout.log', { attempt: attemptId, tail: 5000 });
    const found = ctx.findAttempt(attemptId);
    ctx.attemptLog.clear();
    ctx.attemptLog.appendLine(`\u2500\u2500 ${attemptId} ${found ? found.attempt.title : ''} \u2500\u2500`);
    ctx.attemptLog.append(text.endsWith('\n') || text === '' ? text : text + '\n');
    ctx.attemptLog.show(true);
}

// ---- Show Configuration -------------------------------------------------------------------

interface ConfigItem extends vscode.QuickPickItem {
    open?: string;
    create?: string;
    settings?: true;
}

/** The rows of "Show Configuration": what the server reads, merged, and what is wrong with it. */
export function configItems(config: ConfigResult): ConfigItem[] {
    const items: ConfigItem[] = [];
    for (const problem of config.problems) items.push({ label: `$(warning) ${problem}` });
    items.push({ label: 'In effect', kind: vscode.QuickPickItemKind.Separator });
    if (config.attempts != null) items.push({ label: `$(symbol-number) ${config.attempts} attempts per task`, settings: true });
    items.push({
        label: `$(person) agents: ${config.roster.join(', ') || 'none usable'}`,
        description: 'in turn, one per attempt',
        settings: true,
    });
    if (config.gc_age) items.push({ label: `$(trash) finished attempts cleaned after ${config.gc_age}` });
    items.push({ label: 'Files', kind: vscode.QuickPickItemKind.Separator });
    items.push(
        config.user_config_exists
            ? { label: '$(file) user config', description: config.user_config, open: config.user_config }
            : { label: '$(new-file) user config', description: `${config.user_config} (not created yet: select to create it)`, create: config.user_config },
    );
    if (config.repo_config) {
        const trust = config.repo_config_trusted === false ? ' (not trusted: its commands are not run)' : '';
        items.push({ label: '$(repo) repository config', description: `${config.repo_config}${trust}`, open: config.repo_config });
    }
    items.push({ label: '$(output) server log', description: config.log_file, open: config.log_file });
    items.push({ label: '$(settings-gear) fanout settings of VS Code', settings: true });
    return items;
}

async function showConfiguration(ctx: Ctx): Promise<void> {
    const uri = vscode.window.activeTextEditor?.document.uri;
    const config = await ctx.run('fanout.config', uri?.scheme === 'file' ? { uri: uri.toString() } : {});
    const picked = await vscode.window.showQuickPick(configItems(config), {
        title: 'Fanout: Configuration',
        placeHolder: config.problems.length > 0 ? `${config.problems.length} problem(s): select a file to fix it` : 'What fanout uses',
    });
    if (!picked) return;
    if (picked.settings) {
        await vscode.commands.executeCommand('workbench.action.openSettings', '@ext:fanout.fanout fanout');
        return;
    }
    const file = picked.open ?? picked.create;
    if (!file) return;
    const target = vscode.Uri.file(file);
    if (picked.create) {
        await vscode.workspace.fs.writeFile(
            target,
            new TextEncoder().encode('# fanout configuration: see docs/configuration.md\n# attempts = 3\n'),
        );
    }
    await vscode.window.showTextDocument(target);
}

// ---- the tree view: diffs and hunks ---------------------------------------------------------

/** The node a tree command was run on and, with several selected, all of them. */
function pickedNodes(arg: unknown, selected: unknown): Node[] {
    const clicked = arg as Node | undefined;
    const all = Array.isArray(selected) ? (selected as Node[]) : [];
    if (clicked && all.length > 0 && all.includes(clicked)) return all;
    return clicked ? [clicked] : all;
}

/**
 * A tree node's diff: the attempt's (a pick of its files), one file's, or a file's at a hunk; an
 * item's chosen attempt's, an integration's.
 */
async function openTreeDiff(ctx: Ctx, node: Node | undefined): Promise<void> {
    if (!node || node.kind === 'fanout' || node.kind === 'run') return openAttemptDiff(ctx, undefined);
    if (node.kind === 'item') return node.attempt ? openDiff(ctx, node.attempt) : openAttemptDiff(ctx, undefined);
    if (node.kind === 'attempt' || node.kind === 'integration') return openDiff(ctx, node.attempt);
    if (node.kind === 'file') return openDiff(ctx, node.attempt, node.uri);
    const root = await ctx.repoRoot();
    const uri = vscode.Uri.file(path.join(root, node.hunk.path)).toString();
    return openDiff(ctx, node.attempt, uri, model.hunkLine(node.hunk));
}

/** Accepts hunks picked in the tree, of one attempt or several of one fanout, in one edit. */
async function acceptHunks(ctx: Ctx, nodes: Node[]): Promise<void> {
    const choice = model.hunkChoice(nodes);
    if ('error' in choice) {
        void vscode.window.showInformationMessage(`fanout: ${choice.error}.`);
        return;
    }
    const first = nodes.find((n) => n.kind === 'hunk');
    await accept(ctx, choice.attempt, {
        ids: choice.hunks,
        name: model.hunksName(nodes, (id) => nameOf(ctx, id)),
        diffAttempt: first && first.kind === 'hunk' ? first.attempt : choice.attempt,
    });
}

/** In an attempt's side of a diff editor: accepts the hunk under the cursor. */
async function acceptHunkAtCursor(ctx: Ctx): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const doc = editor?.document.uri.scheme === SCHEME ? decodeQuery(editor.document.uri.query) : undefined;
    if (!editor || doc?.kind !== 'attempt') {
        void vscode.window.showInformationMessage("fanout: put the cursor in an attempt's side of its diff editor first.");
        return;
    }
    const { hunks } = await ctx.run('fanout.hunks', { attempt: doc.attempt, uri: doc.uri });
    const hunk = model.hunkAt(hunks, editor.selection.active.line);
    if (!hunk) {
        void vscode.window.showInformationMessage(`fanout: no hunk of ${nameOf(ctx, doc.attempt)} at line ${editor.selection.active.line + 1}.`);
        return;
    }
    const fanout = ctx.findAttempt(doc.attempt)?.fanout.id ?? '';
    await acceptHunks(ctx, [{ kind: 'hunk', fanout, attempt: doc.attempt, hunk }]);
}

// ---- review, compare, synthesize -------------------------------------------------------------

/** The fanout of an argument (a tree node), else picked among those with attempts. */
async function fanoutFrom(ctx: Ctx, arg: unknown, title: string): Promise<Fanout | undefined> {
    const fanouts = await currentFanouts(ctx);
    const given = fanoutArg(arg) ?? (typeof arg === 'string' ? arg : undefined);
    if (given) {
        const f = fanouts.find((x) => x.id === given);
        if (f) return f;
        throw new Error(`no fanout ${given}`);
    }
    const candidates = fanouts.filter((f) => f.attempts.length > 0);
    if (candidates.length === 0) {
        void vscode.window.showInformationMessage('fanout: no attempts yet. Run "Fanout: Try N Approaches" on a TODO.');
        return undefined;
    }
    if (candidates.length === 1) return candidates[0];
    const picked = await vscode.window.showQuickPick(
        candidates.map((f) => ({
            label: format.taskLabel(f),
            description: `${f.id} \u00b7 ${f.attempts.length} attempts \u00b7 ${format.taskLocation(f)}`,
            fanout: f,
        })),
        { title: `Fanout: ${title}`, placeHolder: 'Which fanout?', matchOnDescription: true },
    );
    return picked?.fanout;
}

/** One agent, or '' for the default (the server's: the config's judge, the roster's first). */
async function pickAgent(ctx: Ctx, title: string, defaultText: string): Promise<string | undefined> {
    let known: AgentsResult = { roster: [], agents: [] };
    try {
        known = await ctx.run('fanout.agents', {});
    } catch (e) {
        void vscode.window.showWarningMessage(`fanout: cannot list the agents: ${errorMessage(e)}`);
    }
    const setting = vscode.workspace.getConfiguration('fanout').get<string[]>('agents') ?? [];
    const items: (vscode.QuickPickItem & { agent: string })[] = [
        { label: '$(star) default', description: defaultText, agent: '' },
        ...agentItems(known, setting, []).map((i) => ({ ...i, agent: i.label })),
    ];
    const picked = await vscode.window.showQuickPick(items, { title: `Fanout: ${title}`, placeHolder: 'Which agent?', matchOnDescription: true });
    return picked?.agent;
}

async function review(ctx: Ctx, arg: unknown): Promise<void> {
    const fanout = await fanoutFrom(ctx, arg, 'Review Attempts');
    if (!fanout) return;
    const agent = await pickAgent(ctx, `Review ${format.taskLabel(fanout)}`, 'the configured judge');
    if (agent === undefined) return;
    const result = await ctx.run('fanout.review', agent ? { fanout: fanout.id, agent } : { fanout: fanout.id });
    void vscode.window.showInformationMessage(
        `fanout: ${result.agent} is reviewing the attempts of ${fanout.id}; its verdict will show in the Fanout view and the lenses.`,
    );
}

async function synthesize(ctx: Ctx, arg: unknown): Promise<void> {
    const fanout = await fanoutFrom(ctx, arg, 'Synthesize');
    if (!fanout) return;
    const agent = await pickAgent(ctx, `Synthesize ${format.taskLabel(fanout)}`, "the roster's first agent");
    if (agent === undefined) return;
    const result = await ctx.run('fanout.synthesize', agent ? { fanout: fanout.id, agent } : { fanout: fanout.id });
    const from = result.from.map((n) => `#${n}`).join(', ');
    void vscode.window.showInformationMessage(`fanout: synthesis attempt ${result.attempt} started, drawing on ${from}.`);
}

async function compare(ctx: Ctx, docs: CompareDocs, arg: unknown): Promise<void> {
    const fanout = await fanoutFrom(ctx, arg, 'Compare Attempts');
    if (!fanout) return;
    const doc = await vscode.workspace.openTextDocument(CompareDocs.uri(fanout.id));
    docs.track(doc.uri);
    await vscode.window.showTextDocument(doc, { preview: false });
}

// ---- task lists: Plan Tasks…, Run All Tasks, Integrate ------------------------------------------

/**
 * The argument of a task list lens of `doc` (`fanout.plan`, `fanout.tryAll`,
 * `fanout.integrate`): the server puts them on a task list's first line, so a document that has
 * one is a task list. Undefined when it has none.
 */
async function listLens(doc: vscode.TextDocument, command: string): Promise<ReturnType<typeof taskListArg> | undefined> {
    if (doc.uri.scheme !== 'file') return undefined;
    const lenses = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri)) ?? [];
    const lens = lenses.find((l) => l.command?.command === command);
    return lens ? taskListArg(lens.command?.arguments?.[0]) : undefined;
}

/** The active editor's task list: its URI, when the server gives it the task list lenses. */
async function activeTaskList(): Promise<string | undefined> {
    const doc = vscode.window.activeTextEditor?.document;
    if (!doc) return undefined;
    return (await listLens(doc, 'fanout.plan'))?.uri;
}

function fileName(uri: string): string {
    return path.basename(vscode.Uri.parse(uri).fsPath);
}

/**
 * Plan Tasks…, and the `Plan tasks…` lens (`{uri}`, no goal): asks for the goal; a lead agent
 * then writes or extends the task list (the lens's, the active one, else the server's default,
 * TASKS.md at the repository's root) as the one attempt of a fanout.
 */
async function planTasks(ctx: Ctx, arg: unknown): Promise<TryResult | undefined> {
    await ctx.requireClient();
    const uri = taskListArg(arg).uri ?? (await activeTaskList());
    const where = uri ? fileName(uri) : "TASKS.md at the repository's root";
    const goal = await vscode.window.showInputBox({
        title: 'Fanout: Plan Tasks',
        prompt: `The goal: a lead agent writes the task list (${where}) for it`,
        placeHolder: 'Build a chess engine with a UCI front end',
        ignoreFocusOut: true,
        validateInput: (v) => (v.trim() === '' ? 'Say what the tasks are for' : undefined),
    });
    if (goal === undefined) return undefined;
    const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'fanout: starting the lead' },
        () => ctx.run('fanout.plan', uri ? { prompt: goal.trim(), uri } : { prompt: goal.trim() }),
    );
    void vscode.window
        .showInformationMessage(
            `fanout ${result.fanout}: the lead is planning ${where} (attempt ${result.attempts.join(', ')}); open its diff and accept it when it is done.`,
            'Show Attempts',
        )
        .then((choice) => (choice === 'Show Attempts' ? guarded(() => showAttempts(ctx))() : undefined));
    return result;
}

/** Run All Tasks: every unchecked item of the active task list, with the count asked for. */
async function runAllTasks(ctx: Ctx): Promise<TryAllResult | undefined> {
    await ctx.requireClient();
    const doc = vscode.window.activeTextEditor?.document;
    const lens = doc ? await listLens(doc, 'fanout.tryAll') : undefined;
    if (!lens?.uri) {
        const list = doc ? await listLens(doc, 'fanout.plan') : undefined;
        void vscode.window.showWarningMessage(
            list ? `fanout: ${fileName(list.uri ?? '')} has no unchecked item (- [ ]) to run.` : 'fanout: open a TASKS.md with unchecked items (- [ ]) first.',
        );
        return undefined;
    }
    const countText = await vscode.window.showInputBox({
        title: 'Fanout: Run All Tasks',
        prompt: `How many attempts at each unchecked item of ${fileName(lens.uri)}?`,
        value: String(lens.count ?? 3),
        validateInput: (v) => format.validateCount(v),
    });
    if (countText === undefined) return undefined;
    return runAll(ctx, { uri: lens.uri, count: Number(countText.trim()) });
}

async function runAll(ctx: Ctx, params: TryAllParams): Promise<TryAllResult> {
    const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'fanout: starting the task list' },
        () => ctx.run('fanout.tryAll', params),
    );
    ctx.refreshLenses();
    const parts = [`fanout: started ${result.started.map((s) => s.title).join(', ') || 'nothing'} from ${result.file}`];
    if (result.waiting.length > 0) {
        parts.push(`waiting: ${result.waiting.map((w) => `${w.title} (after ${w.after.join(', ')})`).join(', ')}`);
    }
    void vscode.window
        .showInformationMessage(`${parts.join('; ')}.`, 'Show Fanout View')
        .then((choice) => (choice === 'Show Fanout View' ? vscode.commands.executeCommand('fanout.attempts.focus') : undefined));
    return result;
}

/**
 * Integrate, the `Integrate (...)` lens (`{uri}`) and a run in the Fanout view (`{batch}`):
 * builds or updates the run's integration, then shows what it did with each item (the
 * server's words) with the integration's Open Diff and Accept.
 */
async function integrateTasks(ctx: Ctx, arg: unknown): Promise<IntegrateResult | undefined> {
    await ctx.requireClient();
    const given = taskListArg(arg);
    const params: IntegrateParams = {};
    if (given.batch) params.batch = given.batch;
    else {
        // Else the active task list's latest run; else the repository's latest run.
        const uri = given.uri ?? (await activeTaskList());
        if (uri) params.uri = uri;
    }
    const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'fanout: integrating (merging each item, verify after each)' },
        () => ctx.run('fanout.integrate', params),
    );
    ctx.refreshLenses();
    await showIntegration(ctx, result);
    return result;
}

interface IntegrationRow extends vscode.QuickPickItem {
    /** An attempt whose diff this row opens. */
    diff?: string;
    accept?: string;
}

/** The rows of Integrate's answer: each item with the server's text, then the integration. */
export function integrationRows(result: IntegrateResult, integration: Attempt | undefined): IntegrationRow[] {
    const rows: IntegrationRow[] = [{ label: `${result.file}: what the integration did`, kind: vscode.QuickPickItemKind.Separator }];
    for (const item of [...result.items].sort((a, b) => a.number - b.number)) {
        rows.push({
            label: `${item.number}. ${item.title}`,
            description: item.text,
            diff: 'attempt' in item ? item.attempt : undefined,
        });
    }
    rows.push({ label: `the integration ${result.attempt} on ${result.branch}`, kind: vscode.QuickPickItemKind.Separator });
    if (integration?.can_diff ?? true) {
        rows.push({ label: '$(diff) Open Diff', description: integration?.title ?? result.attempt, diff: result.attempt });
    }
    if (integration?.can_accept) {
        rows.push({
            label: '$(check) Accept',
            description: "one undoable edit of your files, checking the merged items' boxes",
            accept: result.attempt,
        });
    }
    return rows;
}

async function showIntegration(ctx: Ctx, result: IntegrateResult): Promise<void> {
    // What can be done to the integration is the server's to say: the status, asked now.
    let integration: Attempt | undefined;
    try {
        integration = (await ctx.fetchStatus()).fanouts.flatMap((f) => f.attempts).find((a) => a.id === result.attempt);
    } catch {
        integration = ctx.findAttempt(result.attempt)?.attempt;
    }
    const picked = await vscode.window.showQuickPick(integrationRows(result, integration), {
        title: `Fanout: Integrate ${result.file}${result.rebuilt ? ' (rebuilt from the snapshot)' : ''}`,
        placeHolder: 'Each item as the integration took it; open a diff, or accept the integration',
        matchOnDescription: true,
        ignoreFocusOut: true,
    });
    if (picked?.accept) return accept(ctx, picked.accept);
    if (picked?.diff) return openDiff(ctx, picked.diff);
}
