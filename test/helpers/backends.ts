/**
 * The backends a parametrized suite runs against: always the pure-JS one, plus the native one when
 * lib/backend/native.ts exists, exports `nativeBackend`, and its addon loads and runs a tiny call
 * (giving a non-zero answer: placeholder kernels that write nothing are treated as not there yet).
 *
 *   describe.each(backends.map((b) => [b.name, b] as const))('%s backend', (_name, backend) => { ... });
 *
 * Set GATED_REQUIRE_NATIVE=1 (CI with a built addon) to make a missing native backend an error
 * instead of a skip.
 */
import type { Backend } from '../../lib/backend/types.js';
import { jsBackend } from '../../lib/backend/js.js';

async function loadNative(): Promise<{ backend: Backend | null; reason: string | null }> {
  // A variable specifier so that the type-check does not require the module to exist.
  const specifier = '../../lib/backend/native.js';
  try {
    const mod = (await import(specifier)) as { nativeBackend?: Backend };
    const backend = mod.nativeBackend;
    if (!backend) return { backend: null, reason: 'lib/backend/native.ts does not export nativeBackend' };
    // The module may load while the addon does not: prove one call works. y = tanh(1*1) here; an
    // exact 0 is what the addon's placeholder kernels return before they are written.
    const probe = backend.rnnForward({
      seqLen: 1, batch: 1, inputSize: 1, hiddenSize: 1,
      x: new Float32Array([1]), weightIh: new Float32Array([1]), weightHh: new Float32Array([1]),
    });
    if (probe.y[0] === 0) {
      return { backend: null, reason: 'the native kernels are placeholders (rnnForward probe returned 0, not tanh(1))' };
    }
    return { backend, reason: null };
  } catch (err) {
    return { backend: null, reason: err instanceof Error ? err.message : String(err) };
  }
}

const native = await loadNative();
if (!native.backend) {
  if (process.env.GATED_REQUIRE_NATIVE === '1') {
    throw new Error(`GATED_REQUIRE_NATIVE=1 but the native backend is unavailable: ${native.reason}`);
  }
  console.warn(`[test] native backend skipped: ${native.reason}`);
}

/** Why the native backend is not in {@link backends}, or null when it is. */
export const nativeSkipReason: string | null = native.reason;

/** Every backend available in this process, the JS one first. */
export const backends: readonly Backend[] = native.backend ? [jsBackend, native.backend] : [jsBackend];
