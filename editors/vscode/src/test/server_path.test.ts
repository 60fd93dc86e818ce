import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveServerPath, ResolveInput, targetCandidates } from '../server_path';

function fsWith(files: Record<string, number>): Pick<ResolveInput, 'isExecutable' | 'mtime'> {
    return { isExecutable: (p) => p in files, mtime: (p) => files[p] };
}

const base = { workspaceFolders: ['/work/project'], home: '/home/me', platform: 'linux' as const };

describe('server binary resolution', () => {
    it('takes the setting first, even over PATH', () => {
        const got = resolveServerPath({ ...base, setting: '/opt/fanout/bin/fanout', pathEnv: '/usr/bin', ...fsWith({ '/usr/bin/fanout': 1 }) });
        assert.deepEqual(got, { path: '/opt/fanout/bin/fanout', source: 'setting' });
    });

    it('expands ~, ${workspaceFolder} and relative settings', () => {
        const fs = fsWith({});
        assert.equal(resolveServerPath({ ...base, setting: '~/bin/fanout', ...fs })?.path, '/home/me/bin/fanout');
        assert.equal(resolveServerPath({ ...base, setting: '${workspaceFolder}/bin/fanout', ...fs })?.path, '/work/project/bin/fanout');
        assert.equal(resolveServerPath({ ...base, setting: 'target/debug/fanout', ...fs })?.path, '/work/project/target/debug/fanout');
    });

    it('ignores an empty setting and searches PATH in order', () => {
        const got = resolveServerPath({
            ...base,
            setting: '  ',
            pathEnv: '/nope::/usr/local/bin:/usr/bin',
            ...fsWith({ '/usr/local/bin/fanout': 1, '/usr/bin/fanout': 2, '/work/project/target/debug/fanout': 3 }),
        });
        assert.deepEqual(got, { path: '/usr/local/bin/fanout', source: 'PATH' });
    });

    it('falls back to the newest build in a workspace target/', () => {
        const got = resolveServerPath({
            ...base,
            pathEnv: '/usr/bin',
            ...fsWith({ '/work/project/target/debug/fanout': 10, '/work/project/target/release/fanout': 20 }),
        });
        assert.deepEqual(got, { path: '/work/project/target/release/fanout', source: 'target' });
    });

    it('finds the repository around an extension in development', () => {
        const got = resolveServerPath({
            workspaceFolders: ['/tmp/other'],
            extensionPath: '/work/main/editors/vscode',
            pathEnv: '',
            ...fsWith({ '/work/main/target/debug/fanout': 1 }),
        });
        assert.deepEqual(got, { path: '/work/main/target/debug/fanout', source: 'target' });
        assert.deepEqual(targetCandidates({ workspaceFolders: ['/a'], extensionPath: '/r/editors/vscode' }), [
            '/a/target/debug/fanout',
            '/a/target/release/fanout',
            '/r/target/debug/fanout',
            '/r/target/release/fanout',
        ]);
    });

    it('finds nothing when there is nothing', () => {
        assert.equal(resolveServerPath({ ...base, pathEnv: '/usr/bin', ...fsWith({}) }), undefined);
    });

    it('uses fanout.exe and ; on Windows', () => {
        const got = resolveServerPath({
            workspaceFolders: [],
            platform: 'win32',
            pathEnv: 'C:\\tools;C:\\bin',
            ...fsWith({ 'C:\\bin/fanout.exe': 1 }),
        });
        assert.equal(got?.source, 'PATH');
        assert.match(got?.path ?? '', /fanout\.exe$/);
    });
});
