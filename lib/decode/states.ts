/**
 * Batches of recurrent states, keyed as a model's {@link StateSlot}s: each state is `[K, B, W]`
 * (K state rows per sequence, B sequences, W floats), PyTorch's `h_n` layout, with `c` alike. Decoding
 * reorders them by beam or drops finished rows ({@link selectRows}); a session pool gathers the
 * states of many sessions into one batch ({@link concatRows}) and gives each its own back
 * ({@link selectRows} with one index).
 */
import type { RecurrentState } from '../layers/layer.js';
import type { StateSlot } from '../models/model.js';

/** The states of `batch` sequences of a model, by slot key. */
export interface StateBatch {
  readonly batch: number;
  readonly states: ReadonlyMap<number, RecurrentState>;
}

function select(a: Float32Array, K: number, B: number, W: number, index: Int32Array): Float32Array {
  const n = index.length;
  const out = new Float32Array(K * n * W);
  for (let k = 0; k < K; k++) {
    for (let i = 0; i < n; i++) out.set(a.subarray((k * B + index[i]) * W, (k * B + index[i] + 1) * W), (k * n + i) * W);
  }
  return out;
}

/** The states of rows `index` of `s`, in that order (a row may repeat: beams sharing a prefix). */
export function selectRows(s: StateBatch, slots: readonly StateSlot[], index: Int32Array): StateBatch {
  const states = new Map<number, RecurrentState>();
  for (const slot of slots) {
    const st = s.states.get(slot.key);
    if (!st) continue;
    const { rows: K, width: W } = slot.spec;
    states.set(slot.key, { h: select(st.h, K, s.batch, W, index), c: st.c ? select(st.c, K, s.batch, W, index) : null });
  }
  return { batch: index.length, states };
}

/** The states of `parts` one after the other as one batch (row order: parts in order, each part's rows in order). */
export function concatRows(parts: readonly StateBatch[], slots: readonly StateSlot[]): StateBatch {
  const batch = parts.reduce((n, p) => n + p.batch, 0);
  const states = new Map<number, RecurrentState>();
  for (const slot of slots) {
    const { rows: K, width: W } = slot.spec;
    const h = new Float32Array(K * batch * W);
    const c = slot.spec.cell ? new Float32Array(K * batch * W) : null;
    let at = 0;
    for (const p of parts) {
      const st = p.states.get(slot.key);
      if (st) {
        for (let k = 0; k < K; k++) {
          h.set(st.h.subarray(k * p.batch * W, (k + 1) * p.batch * W), (k * batch + at) * W);
          if (c && st.c) c.set(st.c.subarray(k * p.batch * W, (k + 1) * p.batch * W), (k * batch + at) * W);
        }
      }
      at += p.batch;
    }
    states.set(slot.key, { h, c });
  }
  return { batch, states };
}

/** Zero states of `batch` sequences. */
export function zeroStates(slots: readonly StateSlot[], batch: number): StateBatch {
  const states = new Map<number, RecurrentState>();
  for (const slot of slots) {
    const n = slot.spec.rows * batch * slot.spec.width;
    states.set(slot.key, { h: new Float32Array(n), c: slot.spec.cell ? new Float32Array(n) : null });
  }
  return { batch, states };
}
