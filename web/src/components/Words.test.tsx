// @vitest-environment happy-dom
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { expect, it } from 'vitest';
import type { WordJSON } from '../api/types.gen';
import { Words } from './Words';

declare global {
  var IS_REACT_ACT_ENVIRONMENT: boolean | undefined;
}

const WORDS: WordJSON[] = [
  { op: 'same', text: 'Weather in ' },
  { op: 'removed', text: 'Paris ' },
  { op: 'added', text: 'Lyon ' },
  { op: 'same', text: 'tomorrow?' },
];

function html(side: 'a' | 'b'): string {
  globalThis.IS_REACT_ACT_ENVIRONMENT = true;
  const host = document.createElement('div');
  const root = createRoot(host);
  act(() => root.render(<Words words={WORDS} side={side} />));
  const markup = host.innerHTML;
  act(() => root.unmount());
  return markup;
}

it('strikes what only A has and marks what only B has', () => {
  expect(html('a')).toBe(
    '<span>Weather in </span><del class="word-removed">Paris </del><span>tomorrow?</span>',
  );
  expect(html('b')).toBe('<span>Weather in </span><ins class="word-added">Lyon </ins><span>tomorrow?</span>');
});
