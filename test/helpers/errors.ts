/** The error `fn` throws (typed with gated's `argument` field), or a test failure if it returns. */
export function errorOf(fn: () => unknown): Error & { argument?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { argument?: string };
  }
  throw new Error('expected a throw');
}
