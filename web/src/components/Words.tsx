// One side's words of a word-level diff: what only A has struck through, what only B has marked
// as added.
import type { WordJSON } from '../api/types.gen';
import { wordRuns, type Side } from '../lib/compare';

export function Words({ words, side }: { words: readonly WordJSON[]; side: Side }) {
  return (
    <>
      {wordRuns(words, side).map((run, index) =>
        run.mark === 'removed' ? (
          <del key={index} className="word-removed">
            {run.text}
          </del>
        ) : run.mark === 'added' ? (
          <ins key={index} className="word-added">
            {run.text}
          </ins>
        ) : (
          <span key={index}>{run.text}</span>
        ),
      )}
    </>
  );
}
