// Shortcuts stay out of the way while someone types.

export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}

/** A plain key press meant for the page: no modifier, not typing, no dialog open. */
export function isShortcut(event: KeyboardEvent): boolean {
  return (
    !event.defaultPrevented &&
    !event.altKey &&
    !event.ctrlKey &&
    !event.metaKey &&
    !isTyping(event.target) &&
    document.querySelector('dialog[open]') === null
  );
}

export const SHORTCUTS: [string[], string][] = [
  [['↑', '↓'], 'previous / next call (also k / j)'],
  [['a'], 'allow the selected call (when held)'],
  [['m'], 'mock the selected call (when held)'],
  [['e'], 'edit the selected call and resend it'],
  [['r'], 'resend the selected call unchanged, to the upstream'],
  [
    ['Ctrl', 'click'],
    'compare the selected call with the clicked one (⌘ on a Mac; or its "Compare…" button)',
  ],
  [['/'], 'filter the list'],
  [['Ctrl', 'Enter'], 'send the mock or the resend (in the editor; ⌘ on a Mac)'],
  [['Esc'], 'close the editor, the compare view or this help'],
  [['?'], 'this help'],
];
