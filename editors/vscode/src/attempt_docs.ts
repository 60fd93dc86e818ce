// Read-only documents on `fanout:` URIs: a file as an attempt has it (`fanout.attemptText`),
// the attempt's side of the native diff editor.
import * as vscode from 'vscode';
import { AttemptDoc, decodeQuery, encodeQuery, SCHEME } from './attempt_uri';
import type { Ctx } from './ctx';

export class AttemptDocs implements vscode.TextDocumentContentProvider {
    private readonly changed = new vscode.EventEmitter<vscode.Uri>();
    readonly onDidChange = this.changed.event;

    constructor(private readonly ctx: Ctx) {}

    static uri(doc: AttemptDoc, file: vscode.Uri): vscode.Uri {
        return vscode.Uri.from({ scheme: SCHEME, path: file.path, query: encodeQuery(doc) });
    }

    /** `file` as attempt `attempt` has it. */
    static attemptUri(attempt: string, file: vscode.Uri): vscode.Uri {
        return AttemptDocs.uri({ kind: 'attempt', attempt, uri: file.toString() }, file);
    }

    /** An empty document named like `file`: the other side of a file the attempt adds. */
    static emptyUri(file: vscode.Uri): vscode.Uri {
        return AttemptDocs.uri({ kind: 'empty' }, file);
    }

    async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
        const doc = decodeQuery(uri.query);
        if (!doc) throw new Error(`not a fanout document: ${uri.toString()}`);
        if (doc.kind === 'empty') return '';
        const result = await this.ctx.run('fanout.attemptText', { attempt: doc.attempt, uri: doc.uri });
        return result.exists === false ? '' : result.text;
    }

    /** The state of each attempt when its documents were last refreshed. */
    private readonly states = new Map<string, string>();

    /** An attempt's files change while it runs, and once more when it finishes: fetch them again. */
    refreshAll(): void {
        const refreshed = new Set<string>();
        for (const doc of vscode.workspace.textDocuments) {
            if (doc.uri.scheme !== SCHEME) continue;
            const parsed = decodeQuery(doc.uri.query);
            if (parsed?.kind !== 'attempt') continue;
            const state = this.ctx.findAttempt(parsed.attempt)?.attempt.state ?? 'gone';
            if (state === 'running' || state !== this.states.get(parsed.attempt)) {
                this.changed.fire(doc.uri);
            }
            refreshed.add(parsed.attempt);
            this.states.set(parsed.attempt, state);
        }
        for (const id of [...this.states.keys()]) if (!refreshed.has(id)) this.states.delete(id);
    }
}
