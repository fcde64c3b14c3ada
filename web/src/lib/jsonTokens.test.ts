import { describe, expect, it } from 'vitest';
import { tokenize } from './jsonTokens';

describe('tokenize', () => {
  it('tells keys, strings, numbers, literals and punctuation apart', () => {
    expect(tokenize('{"a": "b", "n": -1.5e3, "ok": true, "no": null}')).toEqual([
      ['punct', '{'],
      ['key', '"a"'],
      ['punct', ':'],
      ['plain', ' '],
      ['string', '"b"'],
      ['punct', ','],
      ['plain', ' '],
      ['key', '"n"'],
      ['punct', ':'],
      ['plain', ' '],
      ['number', '-1.5e3'],
      ['punct', ','],
      ['plain', ' '],
      ['key', '"ok"'],
      ['punct', ':'],
      ['plain', ' '],
      ['literal', 'true'],
      ['punct', ','],
      ['plain', ' '],
      ['key', '"no"'],
      ['punct', ':'],
      ['plain', ' '],
      ['literal', 'null'],
      ['punct', '}'],
    ]);
  });

  it('keeps escaped quotes inside a string', () => {
    expect(tokenize('"say \\"hi\\""')).toEqual([['string', '"say \\"hi\\""']]);
  });

  it.each(['', 'plain text', '{"a": [1, 2]}\n', '{"x": "unterminated', 'trueish falsey'])(
    'gives %j back when the pieces are joined',
    (text) => {
      expect(
        tokenize(text)
          .map(([, piece]) => piece)
          .join(''),
      ).toBe(text);
    },
  );
});
