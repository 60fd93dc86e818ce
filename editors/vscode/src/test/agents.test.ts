import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agentChoices, agentsFromConfig, BUILTIN_AGENTS, configPath } from '../agents';

describe('agents offered by Try N Approaches', () => {
    it('are read from config.toml: the roster and the profiles', () => {
        const toml = [
            '# my fanout',
            'attempts = 3',
            'agents = ["fake", \'claude\']  # rotated',
            '',
            '[agent.fake]',
            'command = ["python3", "/x/fake-agent", "{prompt_file}"]',
            'agents = ["not-a-roster"]',
            '[agent."my-codex"]',
            'command = ["codex"]',
        ].join('\n');
        assert.deepEqual(agentsFromConfig(toml), { roster: ['fake', 'claude'], profiles: ['fake', 'my-codex'] });
    });

    it('tolerate a config they do not understand', () => {
        assert.deepEqual(agentsFromConfig('agents = [\n "a",\n]\n[[weird]]\n'), { roster: [], profiles: [] });
    });

    it('put the setting and configured agents first, without duplicates', () => {
        const names = agentChoices({ roster: ['fake'], profiles: ['fake', 'mine'] }, ['codex'], ['fake', 'seen']);
        assert.deepEqual(names, ['codex', 'fake', 'mine', 'seen', ...BUILTIN_AGENTS.filter((n) => n !== 'codex')]);
    });

    it('come from the config file fanout itself reads', () => {
        assert.equal(configPath({ FANOUT_CONFIG: '/c.toml', XDG_CONFIG_HOME: '/x' }, '/h'), '/c.toml');
        assert.equal(configPath({ XDG_CONFIG_HOME: '/x' }, '/h'), '/x/fanout/config.toml');
        assert.equal(configPath({ XDG_CONFIG_HOME: '' }, '/h'), '/h/.config/fanout/config.toml');
    });
});
