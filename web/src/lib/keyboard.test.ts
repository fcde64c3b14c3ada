// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { isShortcut, isTyping, SHORTCUTS } from './keyboard';

function press(target: EventTarget, init: KeyboardEventInit = {}): KeyboardEvent {
  const event = new KeyboardEvent('keydown', { key: 'a', bubbles: true, cancelable: true, ...init });
  target.dispatchEvent(event);
  return event;
}

afterEach(() => {
  document.body.innerHTML = '';
});

describe('isTyping', () => {
  it.each(['input', 'textarea', 'select'])('is true in a %s', (tag) => {
    expect(isTyping(document.body.appendChild(document.createElement(tag)))).toBe(true);
  });

  it('is true in an editable element and false elsewhere', () => {
    const editable = document.body.appendChild(document.createElement('div'));
    editable.contentEditable = 'true';
    expect(isTyping(editable)).toBe(true);
    expect(isTyping(document.body.appendChild(document.createElement('button')))).toBe(false);
    expect(isTyping(null)).toBe(false);
  });
});

describe('isShortcut', () => {
  it('takes a plain key pressed on the page', () => {
    expect(isShortcut(press(document.body))).toBe(true);
  });

  it.each([{ altKey: true }, { ctrlKey: true }, { metaKey: true }])('ignores a key with %j', (modifier) => {
    expect(isShortcut(press(document.body, modifier))).toBe(false);
  });

  it('ignores keys typed into a field, and any key while a dialog is open', () => {
    expect(isShortcut(press(document.body.appendChild(document.createElement('input'))))).toBe(false);
    const dialog = document.body.appendChild(document.createElement('dialog'));
    dialog.setAttribute('open', '');
    expect(isShortcut(press(document.body))).toBe(false);
  });

  it('ignores a key another handler took', () => {
    const button = document.body.appendChild(document.createElement('button'));
    button.addEventListener('keydown', (event) => event.preventDefault());
    expect(isShortcut(press(button))).toBe(false);
  });
});

it('lists every shortcut once, with its keys', () => {
  const descriptions = SHORTCUTS.map(([, what]) => what);
  expect(new Set(descriptions).size).toBe(descriptions.length);
  for (const [keys] of SHORTCUTS) expect(keys.length).toBeGreaterThan(0);
});

it('gives each key one meaning', () => {
  const modifiers = new Set(['Ctrl', 'Enter', 'click']);
  const seen = SHORTCUTS.flatMap(([keys]) => keys.filter((key) => !modifiers.has(key)));
  expect(new Set(seen).size).toBe(seen.length);
  expect(seen).toEqual(expect.arrayContaining(['e', 'r', 'a', 'm']));
});
