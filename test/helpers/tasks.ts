/** Small seeded learning tasks shared by the training tests. */
import { tokens } from '../../lib/layers/values.js';
import type { Rng } from '../../lib/random.js';
import type { Batch } from '../../lib/train/fit.js';

/** Many-to-one, 4 token ids, lengths 3-6 padded to 6: is the first token equal to the last? (half are) */
export function firstEqualsLast(rng: Rng, B: number): Batch<'tokens'> {
  const V = 4,
    T = 6;
  const seqs = Array.from({ length: B }, () => Array.from({ length: 3 + rng.int(4) }, () => rng.int(V)));
  seqs.forEach((s) => {
    if (rng.uniform() < 0.5) s[s.length - 1] = s[0];
  });
  const ids = new Int32Array(T * B);
  seqs.forEach((s, b) => s.forEach((id, t) => (ids[t * B + b] = id)));
  return {
    x: tokens({ ids, seqLen: T, batch: B, lengths: seqs.map((s) => s.length) }),
    target: Int32Array.from(seqs, (s) => (s[0] === s[s.length - 1] ? 1 : 0)),
  };
}
