/**
 * The instruction sets a native suite runs under: every one this build has and this CPU runs
 * (`internals.isaInfo().available`, best first), and hooks that switch to one for a describe block
 * and back to the one active at load afterwards. Each suite prints the list it ran.
 */
import { afterAll, beforeAll, expect } from 'vitest';

import { loadAddon, nativeAvailable } from '../../lib/native.js';

const internals = nativeAvailable() ? loadAddon().internals : null;

/** Every instruction set this machine runs ([] without the addon). */
export const testIsas: readonly string[] = internals ? internals.isaInfo().available : [];

/** The one the addon started with (GATED_ISA or the best). */
export const initialIsa: string = internals ? internals.getIsa() : '';

/** In a describe block: run its tests under `isa`, then switch back to {@link initialIsa}. */
export function useIsa(isa: string): void {
  beforeAll(() => {
    expect(internals?.setIsa(isa)).toBe(true);
  });
  afterAll(() => {
    internals?.setIsa(initialIsa);
  });
}

/** Logs which instruction sets a suite ran (vitest shows it with the suite's output). */
export function reportIsas(suite: string): void {
  console.log(`${suite}: instruction sets ${testIsas.join(', ')} (active at load: ${initialIsa})`);
}
