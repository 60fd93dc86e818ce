// Activation: one language client per window (multi-root workspaces included), the palette
// commands, the status bar item and the `fanout:` documents.
import * as vscode from 'vscode';
import * as commands from './commands';
import { Ctx, errorMessage } from './ctx';

let ctx: Ctx | undefined;

export async function activate(extension: vscode.ExtensionContext): Promise<void> {
    ctx = new Ctx(extension);
    commands.register(ctx);
    try {
        await ctx.start();
    } catch (e) {
        // Already shown (status bar, output); the commands retry the start.
        ctx.serverOutput.appendLine(`fanout: ${errorMessage(e)}`);
    }
}

export async function deactivate(): Promise<void> {
    await ctx?.stop();
    ctx = undefined;
}
