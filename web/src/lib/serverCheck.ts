// The server's verdict on what a person types in an editor (a mock, a request), asked once
// typing pauses, so a refusal shows where it points before anything is sent.

import { useEffect, useState } from 'react';
import { ApiError } from '../api/http';
import type { MockProblem, Path } from './mock';

const CHECK_DELAY_MS = 200;

export interface ServerCheck {
  /** What the server said, when it did not take the value. */
  problem: MockProblem | null;
  /** The value itself was refused (not the server unreachable, say): it cannot be sent. */
  refused: boolean;
}

/**
 * The verdict of `validate(target, value)` on `value` (parsed from `text`); null until it answers
 * for this very text, and while there is nothing to ask (`value` undefined). `pathOf` reads the
 * refusal's `param` as a field of the value. Both functions must keep their identity (module
 * functions): they are the effect's dependencies.
 */
export function useServerCheck<T>(
  target: string,
  text: string,
  value: T | undefined,
  validate: (target: string, value: T) => Promise<unknown>,
  pathOf: (param: string | null) => Path | undefined,
): ServerCheck | null {
  const [checked, setChecked] = useState<{ text: string; check: ServerCheck } | null>(null);
  useEffect(() => {
    if (value === undefined) return;
    let current = true;
    const timer = window.setTimeout(() => {
      validate(target, value).then(
        () => current && setChecked({ text, check: { problem: null, refused: false } }),
        (error: unknown) => current && setChecked({ text, check: refusal(error, pathOf) }),
      );
    }, CHECK_DELAY_MS);
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [target, text, value, validate, pathOf]);
  return checked?.text === text ? checked.check : null;
}

function refusal(error: unknown, pathOf: (param: string | null) => Path | undefined): ServerCheck {
  if (!(error instanceof ApiError)) return { problem: { message: String(error) }, refused: false };
  const refused = error.status === 400 || error.status === 422;
  return { problem: { message: error.message, path: pathOf(error.param) }, refused };
}
