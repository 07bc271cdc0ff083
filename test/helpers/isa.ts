/**
 * Running a check under every instruction set the machine has: the native kernels' table is switched
 * to each ISA the addon and CPU support (test-only `internals.setIsa`), and back to the one active at
 * load (the best one, or what GATED_ISA chose). Suites print which ISAs they ran (reportIsas).
 */
import { afterAll, beforeAll, expect } from 'vitest';

import { loadAddon, nativeAvailable } from '../../lib/backend/addon.js';

/** The ISAs this addon can run here (best first: 'avx512' / 'avx2' or 'neon', then 'scalar'); [] without the addon. */
export function availableIsas(): string[] {
  return nativeAvailable() ? loadAddon().internals.isaInfo().available : [];
}

/** The ISA the addon started with (GATED_ISA or the best); '' without the addon. */
export const initialIsa: string = nativeAvailable() ? loadAddon().internals.getIsa() : '';

/** Runs `check` once for the js backend, or once per available ISA for the native one. */
export async function forEachIsa(backend: 'js' | 'native', check: (isa: string | null) => Promise<void>): Promise<void> {
  if (backend === 'js') return check(null);
  const internals = loadAddon().internals;
  try {
    for (const isa of availableIsas()) {
      if (!internals.setIsa(isa)) throw new Error(`cannot switch to ${isa}`);
      await check(isa);
    }
  } finally {
    internals.setIsa(initialIsa);
  }
}

/** In a describe block: run its tests under `isa`, then switch back to {@link initialIsa}. */
export function useIsa(isa: string): void {
  beforeAll(() => {
    expect(loadAddon().internals.setIsa(isa)).toBe(true);
  });
  afterAll(() => {
    loadAddon().internals.setIsa(initialIsa);
  });
}

/** Logs which instruction sets a suite runs (vitest shows it with the suite's output). */
export function reportIsas(suite: string): void {
  console.log(`${suite}: instruction sets ${availableIsas().join(', ')} (active at load: ${initialIsa})`);
}
