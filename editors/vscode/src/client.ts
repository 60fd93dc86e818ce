// The language client: starts `fanout lsp --stdio` and routes the server's own commands (run
// by its code lenses) to the extension where it does better than a plain LSP client.
import * as vscode from 'vscode';
import * as lc from 'vscode-languageclient/node';
import type { ServerSettings } from './lsp_ext';

/**
 * The server commands the extension takes over when a lens (or anyone) runs them. The client
 * registers every command of `executeCommandProvider` as a VS Code command; its middleware
 * hands these here, and sends the others to the server unchanged.
 */
export interface CommandHooks {
    /** `fanout.openDiff`: a native diff editor instead of the server's diff file. */
    openDiff(arg: unknown): Promise<unknown>;
    /** `fanout.accept`: runs it, then reports conflicts. */
    accept(arg: unknown): Promise<unknown>;
    /** `fanout.try`: runs it, then remembers the fanout to announce when it finishes. */
    try(arg: unknown): Promise<unknown>;
    /** `fanout.plan` (the `Plan tasks…` lens, which has no goal): asks for it, then runs it. */
    plan(arg: unknown): Promise<unknown>;
    /** `fanout.tryAll` (`Run all K tasks`): runs it, then says what started and what waits. */
    tryAll(arg: unknown): Promise<unknown>;
    /** `fanout.integrate`: runs it, then shows what it did with each item, and the integration. */
    integrate(arg: unknown): Promise<unknown>;
    /** `fanout.status` (a task list item's lens before it has an attempt): shows the Fanout view. */
    status(arg: unknown): Promise<unknown>;
}

export function createClient(
    serverPath: string,
    settings: ServerSettings,
    outputChannel: vscode.OutputChannel,
    hooks: CommandHooks,
): lc.LanguageClient {
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (settings.logLevel) env.FANOUT_LOG = settings.logLevel;

    const run: lc.Executable = {
        command: serverPath,
        args: ['lsp'],
        // The client appends `--stdio`.
        transport: lc.TransportKind.stdio,
        options: { env },
    };
    const serverOptions: lc.ServerOptions = { run, debug: run };

    const clientOptions: lc.LanguageClientOptions = {
        // Tasks are comments in any language, and TASKS.md: every file on disk.
        documentSelector: [{ scheme: 'file' }],
        initializationOptions: settings,
        outputChannel,
        // Settings are sent by hand (Ctx.onConfigurationChanged): the server only wants the
        // ones it understands, not the client-side ones like `server.path`.
        middleware: {
            executeCommand: async (command, args, next) => {
                const arg: unknown = args[0];
                switch (command) {
                    case 'fanout.openDiff':
                        return hooks.openDiff(arg);
                    case 'fanout.accept':
                        return hooks.accept(arg);
                    case 'fanout.try':
                        return hooks.try(arg);
                    case 'fanout.plan':
                        return hooks.plan(arg);
                    case 'fanout.tryAll':
                        return hooks.tryAll(arg);
                    case 'fanout.integrate':
                        return hooks.integrate(arg);
                    case 'fanout.status':
                        return hooks.status(arg);
                    default:
                        return next(command, args);
                }
            },
        },
    };

    const client = new lc.LanguageClient('fanout', 'fanout', serverOptions, clientOptions);
    client.registerFeature(new FinishedFeature());
    return client;
}

/**
 * Declares `experimental.fanoutFinished`: the server then sends `fanout/finished` when a
 * fanout ends, instead of a showMessage the extension would have to recognise by its text.
 */
class FinishedFeature implements lc.StaticFeature {
    fillClientCapabilities(capabilities: lc.ClientCapabilities): void {
        capabilities.experimental = { ...(capabilities.experimental as object | undefined), fanoutFinished: true };
    }
    initialize(): void {}
    getState(): lc.FeatureState {
        return { kind: 'static' };
    }
    clear(): void {}
}

/** Asks VS Code to fetch the code lenses again (the server's lenses show attempt states). */
export function refreshCodeLenses(client: lc.LanguageClient): void {
    const feature = client.getFeature(lc.CodeLensRequest.method);
    const fired = new Set<unknown>();
    for (const editor of vscode.window.visibleTextEditors) {
        const provider = feature?.getProvider(editor.document);
        if (provider && !fired.has(provider)) {
            fired.add(provider);
            provider.onDidChangeCodeLensEmitter.fire();
        }
    }
}
