// The "Fanout" tree view (in the explorer): task list runs → items → their attempts, and the
// run's integration; fanouts → attempts → files → hunks, as the server sends them
// (`fanout/status`, `fanout.diff`, `fanout.hunks`). Refreshed on every status.
import * as path from 'path';
import * as vscode from 'vscode';
import type { Ctx } from './ctx';
import { errorMessage } from './ctx';
import * as format from './format';
import type { Batch, DiffFile, Fanout, HunkInfo } from './lsp_ext';
import * as model from './tree_model';
import type { Node } from './tree_model';

export const VIEW_ID = 'fanout.attempts';

export class FanoutTree implements vscode.TreeDataProvider<Node> {
    private readonly changed = new vscode.EventEmitter<Node | undefined>();
    readonly onDidChangeTreeData = this.changed.event;
    readonly view: vscode.TreeView<Node>;

    /** Per attempt, until the next status: its changed files and its hunks. */
    private files = new Map<string, Promise<DiffFile[]>>();
    private hunks = new Map<string, Promise<HunkInfo[]>>();

    constructor(private readonly ctx: Ctx) {
        this.view = vscode.window.createTreeView(VIEW_ID, { treeDataProvider: this, canSelectMany: true, showCollapseAll: true });
        ctx.extension.subscriptions.push(
            this.view,
            this.changed,
            ctx.onDidChangeStatus(() => this.refresh()),
        );
    }

    refresh(): void {
        this.files.clear();
        this.hunks.clear();
        this.changed.fire(undefined);
    }

    /** The hunks selected in the view. */
    selectedHunks(): Node[] {
        return this.view.selection.filter((n) => n.kind === 'hunk');
    }

    private fanout(id: string): Fanout | undefined {
        return this.ctx.fanouts.find((f) => f.id === id);
    }

    private batch(id: string): Batch | undefined {
        return this.ctx.batches.find((b) => b.id === id);
    }

    getTreeItem(node: Node): vscode.TreeItem {
        const { Collapsed, None } = vscode.TreeItemCollapsibleState;
        let text: model.ItemText;
        let item: vscode.TreeItem;
        switch (node.kind) {
            case 'run': {
                const b = this.batch(node.batch);
                text = b ? model.runItem(b) : { id: `run:${node.batch}`, label: node.batch, contextValue: 'run' };
                item = new vscode.TreeItem(text.label, vscode.TreeItemCollapsibleState.Expanded);
                item.iconPath = new vscode.ThemeIcon('checklist');
                break;
            }
            case 'item': {
                const b = this.batch(node.batch);
                const it = b?.items.find((x) => x.number === node.number);
                const chosen = node.attempt ? this.ctx.findAttempt(node.attempt)?.attempt : undefined;
                text = b && it ? model.itemItem(b, it, chosen) : { id: `item:${node.batch}:${node.number}`, label: String(node.number), contextValue: 'item' };
                item = new vscode.TreeItem(text.label, node.fanout ? Collapsed : None);
                item.iconPath = new vscode.ThemeIcon('tasklist');
                break;
            }
            case 'integration': {
                const b = this.batch(node.batch);
                const a = this.ctx.findAttempt(node.attempt)?.attempt;
                text = b ? model.integrationItem(b, a) : { id: `integration:${node.batch}`, label: 'integration', contextValue: 'integration' };
                item = new vscode.TreeItem(text.label, a?.can_diff ? Collapsed : None);
                item.iconPath = new vscode.ThemeIcon('git-merge');
                break;
            }
            case 'fanout': {
                const f = this.fanout(node.fanout);
                text = f ? model.fanoutItem(f) : { id: `fanout:${node.fanout}`, label: node.fanout, contextValue: 'fanout' };
                item = new vscode.TreeItem(text.label, vscode.TreeItemCollapsibleState.Expanded);
                item.iconPath = new vscode.ThemeIcon('repo-forked');
                break;
            }
            case 'attempt': {
                const f = this.fanout(node.fanout);
                const a = f?.attempts.find((x) => x.id === node.attempt);
                text = a ? model.attemptItem(a, f?.verdict) : { id: `attempt:${node.attempt}`, label: node.attempt, contextValue: 'attempt' };
                item = new vscode.TreeItem(text.label, a?.can_diff ? Collapsed : None);
                break;
            }
            case 'file': {
                text = model.fileItem(node.attempt, node.file);
                item = new vscode.TreeItem(vscode.Uri.parse(node.uri), Collapsed);
                item.label = text.label;
                item.command = { command: 'fanout.openTreeDiff', title: 'Open Diff', arguments: [node] };
                break;
            }
            case 'hunk': {
                const found = this.ctx.findAttempt(node.attempt);
                text = model.hunkItem(node.hunk, found ? format.attemptName(found.attempt) : undefined);
                item = new vscode.TreeItem(text.label, None);
                item.iconPath = new vscode.ThemeIcon('diff');
                item.command = { command: 'fanout.openTreeDiff', title: 'Open Diff', arguments: [node] };
                break;
            }
        }
        item.id = text.id;
        item.description = text.description;
        item.tooltip = text.tooltip;
        item.contextValue = text.contextValue;
        if (text.accessibility) item.accessibilityInformation = { label: text.accessibility };
        return item;
    }

    async getChildren(node?: Node): Promise<Node[]> {
        try {
            if (!node) return model.rootNodes(this.ctx.fanouts, this.ctx.batches);
            switch (node.kind) {
                case 'run': {
                    const b = this.batch(node.batch);
                    return b ? model.runChildren(b) : [];
                }
                case 'item': {
                    const it = this.batch(node.batch)?.items.find((x) => x.number === node.number);
                    return it ? model.itemChildren(it, this.ctx.fanouts) : [];
                }
                case 'fanout': {
                    const f = this.fanout(node.fanout);
                    return format.sortFanouts(f ? [f] : [])[0]?.attempts.map((a) => ({ kind: 'attempt', fanout: node.fanout, attempt: a.id })) ?? [];
                }
                case 'integration':
                case 'attempt': {
                    const root = await this.ctx.repoRoot();
                    const files = await this.filesOf(node.attempt);
                    return files.map((file) => ({
                        kind: 'file',
                        fanout: node.fanout,
                        attempt: node.attempt,
                        uri: vscode.Uri.file(path.join(root, file.path)).toString(),
                        file,
                    }));
                }
                case 'file': {
                    const hunks = await this.hunksOf(node.attempt);
                    return model.hunksOf(hunks, node.file.path).map((hunk) => ({ kind: 'hunk', fanout: node.fanout, attempt: node.attempt, hunk }));
                }
                case 'hunk':
                    return [];
            }
        } catch (e) {
            this.ctx.serverOutput.appendLine(`fanout: tree view: ${errorMessage(e)}`);
            return [];
        }
    }

    private filesOf(attempt: string): Promise<DiffFile[]> {
        return cached(this.files, attempt, () => this.ctx.run('fanout.diff', { attempt }).then((d) => d.files));
    }

    private hunksOf(attempt: string): Promise<HunkInfo[]> {
        return cached(this.hunks, attempt, () => this.ctx.run('fanout.hunks', { attempt }).then((h) => h.hunks));
    }
}

/** The answer kept in `map` until the next refresh; a failure is asked again next time. */
function cached<T>(map: Map<string, Promise<T>>, key: string, fetch: () => Promise<T>): Promise<T> {
    let p = map.get(key);
    if (!p) {
        p = fetch();
        p.catch(() => map.delete(key));
        map.set(key, p);
    }
    return p;
}
