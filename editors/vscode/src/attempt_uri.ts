// The query of a `fanout:` URI, which names one file as an attempt has it. The URI's path is the
// file's own path (so the diff editor shows its name and picks its language); the query says
// which attempt and which workspace file. Pure.

export const SCHEME = 'fanout';

export type AttemptDoc =
    | { kind: 'attempt'; attempt: string; uri: string }
    /** An empty side, for a file the attempt added (there is nothing of yours to compare). */
    | { kind: 'empty' };

export function encodeQuery(doc: AttemptDoc): string {
    const q = new URLSearchParams();
    if (doc.kind === 'empty') {
        q.set('empty', '1');
    } else {
        q.set('attempt', doc.attempt);
        q.set('uri', doc.uri);
    }
    return q.toString();
}

export function decodeQuery(query: string): AttemptDoc | undefined {
    const q = new URLSearchParams(query);
    if (q.get('empty') === '1') return { kind: 'empty' };
    const attempt = q.get('attempt');
    const uri = q.get('uri');
    if (!attempt || !uri) return undefined;
    return { kind: 'attempt', attempt, uri };
}
