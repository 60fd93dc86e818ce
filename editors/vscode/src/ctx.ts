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
    execute,
    Fanout,
    STATUS_NOTIFICATION,
    ServerCommand,
    ServerCommands,
    ServerSettings,
    StatusNotification,
    StatusResult,
} from './lsp_ext';
import { resolveServerPath } from './server_path';

/** While attempts run, lenses and the tooltip show elapsed time: refresh them this often. */
const RUNNING_REFRESH_MS = 10_000;

export interface FinishHandlers {
    showAttempts(): Promise<void>;
    openDiff(attemptId: string): Promise<void>;
}

export class Ctx {
    private client: lc.LanguageClient | undefined;
    private starting: Promise<void> | undefined;
    private status: StatusNotification = { running: 0, succeeded: 0, failed: 0, fanouts: [] };
    private repo: string | undefined;
    private readonly finishes = new format.FinishTracker();
    private runningTimer: NodeJS.Timeout | undefined;

    readonly statusBar: vscode.StatusBarItem;
    /** The language server's own log (stderr, logMessage). */
    readonly serverOutput: vscode.OutputChannel;
    /** "Fanout: Show Attempt Log". */
    readonly attemptLog: vscode.OutputChannel;
    readonly attemptDocs: AttemptDocs;

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
        // Replaces the client's default window/showMessage handler (it must be registered after
        // start()): the finish message is shown by the extension itself, with buttons.
        client.onNotification(lc.ShowMessageNotification.type, (m) => {
            if (m.type === lc.MessageType.Info && format.isFinishMessage(m.message)) {
                this.serverOutput.appendLine(m.message);
                return;
            }
            switch (m.type) {
                case lc.MessageType.Error:
                    void vscode.window.showErrorMessage(m.message);
                    break;
                case lc.MessageType.Warning:
                    void vscode.window.showWarningMessage(m.message);
                    break;
                default:
                    void vscode.window.showInformationMessage(m.message);
            }
        });
        this.renderStatus();
        this.statusBar.show();
        // The state as of now: fanouts that finished before this window connected are not announced.
        try {
            const status = await this.fetchStatus();
            this.finishes.baseline(status.fanouts);
            if (!this.statusSeen) {
                this.status = { ...format.statusCounts({ fanouts: status.fanouts }), fanouts: status.fanouts };
                this.renderStatus();
            }
        } catch (e) {
            // Not a git repository, for instance: lenses still work, commands will say why not.
            this.serverOutput.appendLine(`fanout: no initial status: ${errorMessage(e)}`);
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

    /** An attempt by id (or unique prefix) in the last status. */
    findAttempt(id: string): { fanout: Fanout; attempt: Attempt } | undefined {
        for (const fanout of this.status.fanouts) {
            for (const attempt of fanout.attempts) {
                if (attempt.id === id) return { fanout, attempt };
            }
        }
        const matches = this.status.fanouts.flatMap((fanout) =>
            fanout.attempts.filter((a) => a.id.startsWith(id)).map((attempt) => ({ fanout, attempt })),
        );
        return matches.length === 1 ? matches[0] : undefined;
    }

    /** Asks VS Code for the server's lenses again. */
    refreshLenses(): void {
        if (this.client) refreshCodeLenses(this.client);
    }

    /** A fanout started from this window: announce it when it finishes. */
    expectFanout(id: string): void {
        this.finishes.expect(id);
    }

    private onStatus(params: StatusNotification): void {
        this.statusSeen = true;
        this.status = {
            running: params.running,
            succeeded: params.succeeded,
            failed: params.failed,
            fanouts: params.fanouts ?? [],
        };
        this.renderStatus();
        if (this.client) refreshCodeLenses(this.client);
        this.attemptDocs.refreshAll();
        for (const fanout of this.finishes.update(this.status.fanouts)) this.announceFinish(fanout);
    }

    private renderStatus(): void {
        const counts = format.statusCounts(this.status);
        this.statusBar.text = format.statusBarText(counts);
        this.statusBar.tooltip = format.statusTooltip(format.sortFanouts(this.status.fanouts), nowSecs());
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
        this.runningTimer = setInterval(() => {
            this.statusBar.tooltip = format.statusTooltip(format.sortFanouts(this.status.fanouts), nowSecs());
            if (this.client) refreshCodeLenses(this.client);
        }, RUNNING_REFRESH_MS);
    }

    private stopRunningTimer(): void {
        if (this.runningTimer) clearInterval(this.runningTimer);
        this.runningTimer = undefined;
    }

    private announceFinish(fanout: Fanout): void {
        const best = format.bestAttempt(fanout);
        const buttons = best ? ['Show Attempts', 'Open Best Diff'] : ['Show Attempts'];
        const show = fanout.attempts.some((a) => a.state === 'succeeded')
            ? vscode.window.showInformationMessage
            : vscode.window.showWarningMessage;
        void show(format.finishMessage(fanout), ...buttons).then(async (choice) => {
            try {
                if (choice === 'Show Attempts') await this.finishHandlers?.showAttempts();
                if (choice === 'Open Best Diff' && best) await this.finishHandlers?.openDiff(best.id);
            } catch (e) {
                void vscode.window.showErrorMessage(`fanout: ${errorMessage(e)}`);
            }
        });
    }
}

export function nowSecs(): number {
    return Math.floor(Date.now() / 1000);
}

export function errorMessage(e: unknown): string {
    if (e instanceof Error) return e.message;
    if (typeof e === 'object' && e !== null && 'message' in e) return String((e as { message: unknown }).message);
    return String(e);
}
