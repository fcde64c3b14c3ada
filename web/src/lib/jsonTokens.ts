// A tiny JSON tokenizer for read-only highlighting (the editor uses CodeMirror's parser).

export type TokenKind = 'key' | 'string' | 'number' | 'literal' | 'punct' | 'plain';

const TOKEN =
  /("(?:[^"\\\n]|\\.)*")(?=\s*:)|("(?:[^"\\\n]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b|([{}[\],:])/g;

/** Splits `text` into highlighted pieces; the pieces joined give `text` back. */
export function tokenize(text: string): [TokenKind, string][] {
  const tokens: [TokenKind, string][] = [];
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    const start = match.index;
    if (start > last) tokens.push(['plain', text.slice(last, start)]);
    const kind: TokenKind = match[1]
      ? 'key'
      : match[2]
        ? 'string'
        : match[3]
          ? 'number'
          : match[4]
            ? 'literal'
            : 'punct';
    tokens.push([kind, match[0]]);
    last = start + match[0].length;
  }
  if (last < text.length) tokens.push(['plain', text.slice(last)]);
  return tokens;
}
