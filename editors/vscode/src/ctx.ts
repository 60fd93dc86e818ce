// The extension's state: the one language client of the window, the last status the server
// sent, the status bar item and the output channels.
import * as fs from 'fs';
import * as os from 'os';
import * as vscode from 'vscode';
import * as lc from 'vscode-languageclient/node';
import { AttemptDocs } from './attempt_docs';
import { CommandHooks, createClient, refreshCodeLenses } from './client';
import * as format from './format';
import {
    Attempt,
    Batch,
    execute,
    Fanout,
    FINISHED_NOTIFICATION,
    FinishedNotification,
    STATUS_NOTIFICATION,
    ServerCommand,
    ServerCommands,
    ServerSettings,
    StatusNotification,
    StatusResult,
} from './lsp_ext';
import { resolveServerPath } from './server_path';

/** While attempts run, the tooltip shows their elapsed time: ask the server again this often. */
const RUNNING_REFRESH_MS = 10_000;

export interface FinishHandlers {
    showAttempts(): Promise<void>;
    openDiff(attemptId: string): Promise<void>;
}

export class Ctx {
    private client: lc.LanguageClient | undefined;
    private starting: Promise<void> | undefined;
    private status: StatusNotification = { running: 0, queued: 0, succeeded: 0, failed: 0, fanouts: [], batches: [] };
    private repo: string | undefined;
    private runningTimer: NodeJS.Timeout | undefined;

    readonly statusBar: vscode.StatusBarItem;
    /** The language server's own log (stderr, logMessage). */
    readonly serverOutput: vscode.OutputChannel;
    /** "Fanout: Show Attempt Log". */
    readonly attemptLog: vscode.OutputChannel;
    readonly attemptDocs: AttemptDocs;
    private readonly statusChanged = new vscode.EventEmitter<void>();
    /** Fires on every `fanout/status` (and when the first status arrives): the tree view refreshes. */
    readonly onDidChangeStatus = this.statusChanged.event;

    private hooks: CommandHooks | undefined;
    private finishHandlers: FinishHandlers | undefined;

    constructor(readonly extension: vscode.ExtensionContext) {
        this.statusBar = vscode.window.createStatusBarItem('status', vscode.StatusBarAlignment.Left, 10);
        this.statusBar.name = 'fanout';
        this.statusBar.command = 'fanout.showAttempts';
        this.serverOutput = vscode.window.createOutputChannel('fanout');
        this.attemptLog = vscode.window.createOutputChannel('fanout: attempt log');
        this.attemptDocs = new AttemptDocs(this);
        extension.subscriptions.push(
            this.statusBar,
            this.serverOutput,
            this.attemptLog,
            this.statusChanged,
            vscode.workspace.registerTextDocumentContentProvider('fanout', this.attemptDocs),
            vscode.workspace.onDidChangeConfiguration((e) => this.onConfigurationChanged(e)),
            { dispose: () => this.stopRunningTimer() },
        );
    }

    /** The handlers of the server commands the extension takes over (commands.ts). */
    setHandlers(hooks: CommandHooks, finishes: FinishHandlers): void {
        this.hooks = hooks;
        this.finishHandlers = finishes;
    }

    // ---- the language client ----------------------------------------------------------

    /** Starts the server once; concurrent callers wait for the same start. */
    start(): Promise<void> {
        if (this.client?.isRunning()) return Promise.resolve();
        if (!this.starting) {
            this.starting = this.doStart().finally(() => (this.starting = undefined));
        }
        return this.starting;
    }

    private async doStart(): Promise<void> {
        const server = this.serverPath();
        if (!server) {
            this.showProblem('the fanout binary was not found');
            const choice = await vscode.window.showErrorMessage(
                'fanout: could not find the `fanout` binary. Set "fanout.server.path", or put fanout on PATH.',
                'Open Settings',
            );
            if (choice === 'Open Settings') {
                await vscode.commands.executeCommand('workbench.action.openSettings', 'fanout.server.path');
            }
            return;
        }
        this.serverOutput.appendLine(`fanout: starting ${server.path} lsp --stdio (from ${server.source})`);
        if (!this.hooks) throw new Error('command handlers are not set');
        const client = createClient(server.path, this.serverSettings(), this.serverOutput, this.hooks);
        this.client = client;
        try {
            await client.start();
        } catch (e) {
            this.client = undefined;
            this.showProblem(`the server did not start: ${errorMessage(e)}`);
            throw e;
        }
        client.onNotification(STATUS_NOTIFICATION, (params: StatusNotification) => this.onStatus(params));
        // Sent instead of the server's showMessage because the client declares
        // `experimental.fanoutFinished` (client.ts): shown here with buttons.
        client.onNotification(FINISHED_NOTIFICATION, (params: FinishedNotification) => this.announceFinish(params));
        this.renderStatus();
        this.statusBar.show();
        try {
            const status = await this.fetchStatus();
            if (!this.statusSeen) {
                this.status = statusOf(status);
                this.renderStatus();
                this.statusChanged.fire();
            }
        } catch (e) {
            // Not a git repository, for instance: lenses still work, commands will say why not.
            this.serverOutput.appendLine(`fanout: no initial status: ${errorMessage(e)}`);
        }
        void this.reportConfigProblems();
    }

    /** Problems in fanout's config files are said once per start, with a way to look. */
    private async reportConfigProblems(): Promise<void> {
        try {
            const uri = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file')?.uri.toString();
            const config = await this.run('fanout.config', uri ? { uri } : {});
            if (config.problems.length === 0) return;
            for (const p of config.problems) this.serverOutput.appendLine(`fanout: config: ${p}`);
            const choice = await vscode.window.showWarningMessage(
                `fanout: ${config.problems[0]}${config.problems.length > 1 ? ` (and ${config.problems.length - 1} more)` : ''}`,
                'Show Configuration',
            );
            if (choice === 'Show Configuration') await vscode.commands.executeCommand('fanout.showConfiguration');
        } catch (e) {
            this.serverOutput.appendLine(`fanout: no configuration report: ${errorMessage(e)}`);
        }
    }

    async stop(): Promise<void> {
        const client = this.client;
        this.client = undefined;
        this.stopRunningTimer();
        if (client) await client.stop();
    }

    async restart(): Promise<void> {
        await this.stop();
        await this.start();
    }

    /** The running client, started if needed; a user-facing error if there is none. */
    async requireClient(): Promise<lc.LanguageClient> {
        if (!this.client?.isRunning()) await this.start();
        if (!this.client?.isRunning()) throw new Error('the fanout language server is not running');
        return this.client;
    }

    /** Runs a server command (workspace/executeCommand with one object argument). */
    async run<C extends ServerCommand>(command: C, params: ServerCommands[C][0]): Promise<ServerCommands[C][1]> {
        return execute(await this.requireClient(), command, params);
    }

    private serverPath() {
        const setting = vscode.workspace.getConfiguration('fanout').get<string | null>('server.path');
        return resolveServerPath({
            setting,
            pathEnv: process.env.PATH,
            workspaceFolders: (vscode.workspace.workspaceFolders ?? [])
                .filter((f) => f.uri.scheme === 'file')
                .map((f) => f.uri.fsPath),
            extensionPath: this.extension.extensionMode === vscode.ExtensionMode.Development ? this.extension.extensionPath : undefined,
            home: os.homedir(),
            platform: process.platform,
            isExecutable: (p) => {
                try {
                    const st = fs.statSync(p);
                    if (!st.isFile()) return false;
                    fs.accessSync(p, fs.constants.X_OK);
                    return true;
                } catch {
                    return false;
                }
            },
            mtime: (p) => {
                try {
                    return fs.statSync(p).mtimeMs;
                } catch {
                    return undefined;
                }
            },
        });
    }

    /** The settings the server understands (docs/protocol.md, initializationOptions). */
    serverSettings(): ServerSettings {
        const cfg = vscode.workspace.getConfiguration('fanout');
        const settings: ServerSettings = {};
        const attempts = cfg.get<number | null>('attempts');
        if (typeof attempts === 'number') settings.attempts = attempts;
        const agents = cfg.get<string[]>('agents') ?? [];
        if (agents.length > 0) settings.agents = agents;
        settings.logLevel = cfg.get<string>('logLevel') ?? 'info';
        if (cfg.get<boolean>('warmPool')) settings.warmPool = true;
        return settings;
    }

    private onConfigurationChanged(e: vscode.ConfigurationChangeEvent): void {
        if (!e.affectsConfiguration('fanout')) return;
        if (e.affectsConfiguration('fanout.server.path')) {
            void this.restart().catch((err) => this.serverOutput.appendLine(`fanout: restart failed: ${errorMessage(err)}`));
            return;
        }
        if (this.client?.isRunning()) {
            void this.client.sendNotification(lc.DidChangeConfigurationNotification.type, {
                settings: { fanout: this.serverSettings() },
            });
        }
    }

    // ---- status -----------------------------------------------------------------------

    private statusSeen = false;

    /** `fanout.status`, which also tells the repository's root. */
    async fetchStatus(): Promise<StatusResult> {
        const status = await this.run('fanout.status', {});
        if (status.repo) this.repo = status.repo;
        return status;
    }

    /** The last status: from `fanout/status`, or the first `fanout.status`. */
    get fanouts(): Fanout[] {
        return this.status.fanouts;
    }

    /** The task list runs of the last status (`fanout.tryAll`), as the server sent them. */
    get batches(): Batch[] {
        return this.status.batches ?? [];
    }

    /** The run whose integration is this attempt (as the server sent its id), to name it. */
    findIntegration(attemptId: string): Batch | undefined {
        return this.batches.find((b) => b.integration?.attempt === attemptId);
    }

    /** The repository root the server's paths are relative to. */
    async repoRoot(): Promise<string> {
        if (!this.repo) {
            try {
                await this.fetchStatus();
            } catch {
                // fall through to the first folder
            }
        }
        const root = this.repo ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
        if (!root) throw new Error('no repository is open');
        return root;
    }

    /** The attempt with this id (as the server sent it) in the last status, to name it. */
    findAttempt(id: string): { fanout: Fanout; attempt: Attempt } | undefined {
        for (const fanout of this.status.fanouts) {
            const attempt = fanout.attempts.find((a) => a.id === id);
            if (attempt) return { fanout, attempt };
        }
        return undefined;
    }

    /** Asks VS Code for the server's lenses again. */
    refreshLenses(): void {
        if (this.client) refreshCodeLenses(this.client);
    }

    private onStatus(params: StatusNotification): void {
        this.statusSeen = true;
        this.status = statusOf(params);
        this.renderStatus();
        if (this.client) refreshCodeLenses(this.client);
        this.attemptDocs.refreshAll();
        this.statusChanged.fire();
    }

    private renderStatus(): void {
        const counts = this.status;
        this.statusBar.text = format.statusBarText(counts);
        this.statusBar.tooltip = format.statusTooltip(format.sortFanouts(this.status.fanouts));
        this.statusBar.accessibilityInformation = { label: format.statusBarLabel(counts), role: 'button' };
        this.statusBar.backgroundColor = undefined;
        this.statusBar.command = 'fanout.showAttempts';
        if (counts.running + counts.queued > 0) this.startRunningTimer();
        else this.stopRunningTimer();
    }

    private showProblem(what: string): void {
        this.statusBar.text = '$(warning) fanout';
        this.statusBar.tooltip = `fanout: ${what}. See the "fanout" output.`;
        this.statusBar.accessibilityInformation = { label: `fanout: ${what}` };
        this.statusBar.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
        this.statusBar.command = 'fanout.restartServer';
        this.statusBar.show();
        this.serverOutput.appendLine(`fanout: ${what}`);
    }

    private startRunningTimer(): void {
        if (this.runningTimer) return;
        // Titles carry the elapsed time, which changes without a `fanout/status` (the server
        // refreshes the lenses itself).
        this.runningTimer = setInterval(() => {
            void this.fetchStatus()
                .then((status) => {
                    this.status = statusOf(status);
                    this.renderStatus();
                })
                .catch(() => undefined);
        }, RUNNING_REFRESH_MS);
    }

    private stopRunningTimer(): void {
        if (this.runningTimer) clearInterval(this.runningTimer);
        this.runningTimer = undefined;
    }

    private announceFinish(finished: FinishedNotification): void {
        const best = finished.best;
        const buttons = best ? ['Show Attempts', 'Open Best Diff'] : ['Show Attempts'];
        const show = finished.succeeded > 0 ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
        this.serverOutput.appendLine(finished.message);
        void show(finished.message, ...buttons).then(async (choice) => {
            try {
                if (choice === 'Show Attempts') await this.finishHandlers?.showAttempts();
                if (choice === 'Open Best Diff' && best) await this.finishHandlers?.openDiff(best);
            } catch (e) {
                void vscode.window.showErrorMessage(`fanout: ${errorMessage(e)}`);
            }
        });
    }
}

/** The status to keep: the server's counts and fanouts, from a notification or a reply. */
function statusOf(s: StatusNotification | StatusResult): StatusNotification {
    return {
        running: s.running,
        queued: s.queued,
        succeeded: s.succeeded,
        failed: s.failed,
        fanouts: s.fanouts ?? [],
        batches: s.batches ?? [],
    };
}

export function errorMessage(e: unknown): string {
    if (e instanceof Error) return e.message;
    if (typeof e === 'object' && e !== null && 'message' in e) return String((e as { message: unknown }).message);
    return String(e);
}
