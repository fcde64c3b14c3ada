// The CodeMirror 6 JSON editor of the mock dialog (loaded on first use): JSON highlighting,
// and the mock's problem (a syntax error, or the server's refusal) marked where it points.
import { history, historyKeymap, indentLess, indentMore, standardKeymap } from '@codemirror/commands';
import { json } from '@codemirror/lang-json';
import {
  bracketMatching,
  ensureSyntaxTree,
  HighlightStyle,
  indentOnInput,
  syntaxHighlighting,
  syntaxTree,
} from '@codemirror/language';
import { lintGutter, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { EditorState, Prec } from '@codemirror/state';
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from '@codemirror/view';
import type { SyntaxNode } from '@lezer/common';
import { tags } from '@lezer/highlight';
import { useEffect, useEffectEvent, useRef } from 'react';
import type { MockProblem, Path } from '../lib/mock';

interface Props {
  /** The text to show; replacing it (a new template) keeps undo history. */
  value: string;
  /** `byUser` is false when the change is a new `value`. */
  onChange: (text: string, byUser: boolean) => void;
  onSubmit: () => void;
  /** What is wrong with `value`, marked in the text. */
  problem: MockProblem | null;
  label: string;
  /** Take the focus once made (not when another field of the dialog has it first). */
  autoFocus?: boolean;
}

export default function JsonEditor({ value, onChange, onSubmit, problem, label, autoFocus = true }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const applying = useRef(false);
  // The editor lives across renders; it calls the latest callbacks through these.
  const changed = useEffectEvent((text: string) => onChange(text, !applying.current));
  const submit = useEffectEvent(() => onSubmit());

  useEffect(() => {
    const editor = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          Prec.highest(
            keymap.of([
              {
                key: 'Mod-Enter',
                run: () => {
                  submit();
                  return true;
                },
              },
            ]),
          ),
          lineNumbers(),
          highlightActiveLineGutter(),
          highlightActiveLine(),
          drawSelection(),
          history(),
          indentOnInput(),
          bracketMatching(),
          json(),
          syntaxHighlighting(highlight),
          lintGutter(),
          keymap.of([
            ...standardKeymap,
            ...historyKeymap,
            { key: 'Mod-]', run: indentMore },
            { key: 'Mod-[', run: indentLess },
          ]),
          EditorView.lineWrapping,
          EditorView.contentAttributes.of({ 'aria-label': label }),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) changed(update.state.doc.toString());
          }),
          theme,
        ],
      }),
    });
    view.current = editor;
    if (autoFocus) editor.focus();
    return () => editor.destroy();
    // The editor is made once; `value` changes are applied below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const editor = view.current;
    if (editor && editor.state.doc.toString() !== value) {
      applying.current = true;
      try {
        editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: value } });
      } finally {
        applying.current = false;
      }
    }
  }, [value]);

  useEffect(() => {
    const editor = view.current;
    if (editor && editor.state.doc.toString() === value) {
      editor.dispatch(setDiagnostics(editor.state, problem ? [diagnostic(editor.state, problem)] : []));
    }
  }, [value, problem]);

  return <div ref={host} className="json-editor" />;
}

function diagnostic(state: EditorState, problem: MockProblem): Diagnostic {
  const tree = ensureSyntaxTree(state, state.doc.length, 100) ?? syntaxTree(state);
  let from: number;
  let to: number;
  if (problem.path) {
    [from, to] = locate(tree.topNode, problem.path, (node) => state.sliceDoc(node.from, node.to));
  } else {
    let error: SyntaxNode | null = null;
    tree.iterate({
      enter(node) {
        if (error) return false;
        if (node.type.isError) error = node.node;
        return undefined;
      },
    });
    const at = (error as SyntaxNode | null)?.from ?? problem.offset ?? state.doc.length;
    from = Math.min(at, state.doc.length);
    to = Math.min(from + 1, state.doc.length);
    if (from === to && from > 0) from -= 1;
  }
  return { from, to, severity: 'error', message: problem.message };
}

const VALUES = new Set(['Object', 'Array', 'String', 'Number', 'True', 'False', 'Null']);

/** The range of the value at `path` (or of the key, for a field name), else the whole value. */
function locate(top: SyntaxNode, path: Path, text: (node: SyntaxNode) => string): [number, number] {
  let node: SyntaxNode | null = top.firstChild;
  let range: [number, number] = node ? [node.from, node.to] : [top.from, top.to];
  for (const key of path) {
    if (!node) break;
    let next: SyntaxNode | null = null;
    if (typeof key === 'string' && node.name === 'Object') {
      for (const property of node.getChildren('Property')) {
        const name = property.getChild('PropertyName');
        if (name && unquote(text(name)) === key) {
          range = [name.from, name.to];
          next = lastValue(property);
        }
      }
    } else if (typeof key === 'number' && node.name === 'Array') {
      next = childValues(node)[key] ?? null;
      if (next) range = [next.from, next.to];
    }
    if (!next) break;
    node = next;
  }
  return range;
}

function childValues(node: SyntaxNode): SyntaxNode[] {
  const values: SyntaxNode[] = [];
  for (let child = node.firstChild; child; child = child.nextSibling)
    if (VALUES.has(child.name)) values.push(child);
  return values;
}

function lastValue(property: SyntaxNode): SyntaxNode | null {
  const values = childValues(property);
  return values[values.length - 1] ?? null;
}

function unquote(raw: string): string {
  try {
    return JSON.parse(raw) as string;
  } catch {
    return raw;
  }
}

const highlight = HighlightStyle.define([
  { tag: tags.propertyName, color: 'var(--j-key)' },
  { tag: tags.string, color: 'var(--j-string)' },
  { tag: tags.number, color: 'var(--j-number)' },
  { tag: [tags.bool, tags.null], color: 'var(--j-literal)' },
  { tag: [tags.separator, tags.brace, tags.squareBracket, tags.punctuation], color: 'var(--j-punct)' },
  { tag: tags.invalid, color: 'var(--bad)' },
]);

// Colours come from the page's CSS variables, so the editor follows the light/dark scheme.
const theme = EditorView.theme({
  '&': { color: 'var(--text)', backgroundColor: 'var(--code-bg)', fontSize: '12.5px', height: '100%' },
  '&.cm-focused': { outline: 'none' },
  '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.5' },
  '.cm-content': { caretColor: 'var(--text)', padding: '6px 0' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--text)' },
  '&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, .cm-content ::selection':
    { backgroundColor: 'var(--cm-selection)' },
  '.cm-activeLine': { backgroundColor: 'var(--cm-active-line)' },
  '.cm-gutters': {
    backgroundColor: 'var(--code-bg)',
    color: 'var(--muted)',
    border: 'none',
    borderRight: '1px solid var(--border)',
  },
  '.cm-activeLineGutter': { backgroundColor: 'var(--cm-active-line)' },
  '&.cm-focused .cm-matchingBracket': { backgroundColor: 'var(--cm-bracket)', outline: 'none' },
  '.cm-tooltip': { backgroundColor: 'var(--bg)', color: 'var(--text)', border: '1px solid var(--border)' },
  '.cm-diagnostic-error': { borderLeftColor: 'var(--bad)' },
  '.cm-lintRange-error': {
    backgroundImage: 'none',
    textDecoration: 'underline wavy var(--bad)',
    textUnderlineOffset: '3px',
  },
});
