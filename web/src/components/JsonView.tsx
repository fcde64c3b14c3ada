// Read-only JSON, pretty-printed with light highlighting.
import { memo, useMemo } from 'react';
import { tokenize } from '../lib/jsonTokens';
import { pretty } from '../lib/format';

// Past this size, highlighting costs more than it helps.
const HIGHLIGHT_LIMIT = 200_000;

interface Props {
  value?: unknown;
  /** Already formatted text (shown as is, highlighted as JSON). */
  text?: string;
  testId?: string;
  label?: string;
}

export const JsonView = memo(function JsonView({ value, text, testId, label }: Props) {
  const source = text ?? pretty(value);
  const pieces = useMemo(
    () =>
      source.length > HIGHLIGHT_LIMIT
        ? source
        : tokenize(source).map(([kind, piece], index) =>
            kind === 'plain' ? (
              piece
            ) : (
              <span key={index} className={`j-${kind}`}>
                {piece}
              </span>
            ),
          ),
    [source],
  );
  return (
    <pre className="json" data-testid={testId} aria-label={label} tabIndex={testId ? 0 : undefined}>
      {pieces}
    </pre>
  );
});
