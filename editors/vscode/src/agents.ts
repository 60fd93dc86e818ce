// The agents offered by "Try N Approaches": fanout's built-in profiles, the ones named in the
// user's config.toml, the `fanout.agents` setting and any agent already seen in an attempt.
// Pure: the config text is passed in.
import * as path from 'path';

/** Built-in agent profiles of the engine (server/src/agents.rs). */
export const BUILTIN_AGENTS = ['claude', 'codex', 'gemini', 'aider'];

/** fanout's config file: `$FANOUT_CONFIG`, else `$XDG_CONFIG_HOME/fanout/config.toml`, else `~/.config/...`. */
export function configPath(env: Record<string, string | undefined>, home: string): string {
    if (env.FANOUT_CONFIG) return env.FANOUT_CONFIG;
    const base = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : path.join(home, '.config');
    return path.join(base, 'fanout', 'config.toml');
}

export interface ConfiguredAgents {
    /** `agents = [...]`: the default roster. */
    roster: string[];
    /** Names of `[agent.NAME]` tables. */
    profiles: string[];
}

function unquote(s: string): string {
    const t = s.trim();
    if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) return t.slice(1, -1);
    return t;
}

/**
 * Reads agent names from config.toml. Not a TOML parser: enough for the two shapes that matter
 * (a top-level `agents = [...]` on one line and `[agent.NAME]` table headers); anything it does
 * not understand is skipped, as the list only seeds a pick.
 */
export function agentsFromConfig(toml: string): ConfiguredAgents {
    const roster: string[] = [];
    const profiles: string[] = [];
    let topLevel = true;
    for (const raw of toml.split(/\r?\n/)) {
        const line = raw.replace(/\s+#.*$/, '').trim();
        if (line === '' || line.startsWith('#')) continue;
        const table = /^\[\s*agent\.("[^"]+"|'[^']+'|[A-Za-z0-9_-]+)\s*\]$/.exec(line);
        if (table) {
            const name = unquote(table[1]);
            if (!profiles.includes(name)) profiles.push(name);
            topLevel = false;
            continue;
        }
        if (line.startsWith('[')) {
            topLevel = false;
            continue;
        }
        const roster_ = /^agents\s*=\s*\[(.*)\]$/.exec(line);
        if (topLevel && roster_) {
            for (const item of roster_[1].split(',')) {
                const name = unquote(item);
                if (name && !roster.includes(name)) roster.push(name);
            }
        }
    }
    return { roster, profiles };
}

/** The names to offer, without duplicates: configured first, then seen, then built-in. */
export function agentChoices(configured: ConfiguredAgents, setting: string[], seen: string[]): string[] {
    const out: string[] = [];
    for (const name of [...setting, ...configured.roster, ...configured.profiles, ...seen, ...BUILTIN_AGENTS]) {
        if (name && !out.includes(name)) out.push(name);
    }
    return out;
}
