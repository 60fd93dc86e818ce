// Read-only documents on `fanout-compare:` URIs: "Fanout: Compare Attempts", the text of the
// server's `fanout.compare` (the table `fanout compare` prints), fetched again on each status
// (a verdict arrives later, attempts finish).
import * as vscode from 'vscode';
import type { Ctx } from './ctx';

export const COMPARE_SCHEME = 'fanout-compare';

export class CompareDocs implements vscode.TextDocumentContentProvider {
    private readonly changed = new vscode.EventEmitter<vscode.Uri>();
    readonly onDidChange = this.changed.event;
    private readonly open = new Map<string, vscode.Uri>();

    constructor(private readonly ctx: Ctx) {
        ctx.extension.subscriptions.push(
            this.changed,
            vscode.workspace.registerTextDocumentContentProvider(COMPARE_SCHEME, this),
            ctx.onDidChangeStatus(() => {
                for (const uri of this.open.values()) this.changed.fire(uri);
            }),
            vscode.workspace.onDidCloseTextDocument((doc) => this.open.delete(doc.uri.toString())),
        );
    }

    /** `fanout-compare:/compare-7f3a9c.txt?7f3a9c`. */
    static uri(fanout: string): vscode.Uri {
        return vscode.Uri.from({ scheme: COMPARE_SCHEME, path: `/compare-${fanout}.txt`, query: fanout });
    }

    track(uri: vscode.Uri): void {
        this.open.set(uri.toString(), uri);
    }

    async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
        return (await this.ctx.run('fanout.compare', { fanout: uri.query })).text;
    }
}
