/**
 * Running a check under every instruction set the machine has: the native kernels' table is switched
 * to each ISA the addon and CPU support (test-only `internals.setIsa`), and back to the best one.
 */
import { loadAddon, nativeAvailable } from '../../lib/backend/addon.js';

/** The ISAs this addon can run here ('scalar', then 'avx2' / 'avx512' / 'neon' where available). */
export function availableIsas(): string[] {
  if (!nativeAvailable()) return [];
  const internals = loadAddon().internals;
  return ['scalar', 'avx2', 'avx512', 'neon'].filter((isa) => internals.isaAvailable(isa));
}

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
    internals.setIsa(internals.bestIsa());
  }
}
