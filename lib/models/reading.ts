/** What the readers of model and checkpoint files share: FormatErrors naming the field, and small checks. */
import { describe } from '../check.js';
import { FormatError, GatedError } from '../errors.js';
import type { Kind } from '../layers/values.js';
import type { ParameterDescription } from './model.js';

/** Builds a FormatError naming `argument` (the message says where the description came from). */
export type Fail = (argument: string, message: string) => FormatError;

/** A FormatError maker for what was read from `source` (a path, or 'bytes'). */
export function failIn(source: string): Fail {
  return (argument, message) => new FormatError(`${message} (in ${source})`, argument);
}

/** What the caller expects of a model being loaded (checked against its description). */
export interface ExpectedKinds {
  readonly inputKind?: Kind;
  readonly outputKind?: Kind;
}

/** `s` quoted for a message, cut at 100 characters. */
export const quote = (s: string): string => JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}...` : s);

/** A plain object (not null, an array or a typed array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** An array of non-negative integers. */
export function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0);
}

/** `[2, 3]`. */
export const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** The dtypes a weight may have in a file (converted to float32 on load). */
export const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16', 'F64'];

/** The bare message of an error (without gated's `argument: ` prefix). */
export function bareMessage(e: unknown): string {
  if (e instanceof GatedError && e.argument !== undefined && e.message.startsWith(`${e.argument}: `)) {
    return e.message.slice(e.argument.length + 2);
  }
  return e instanceof Error ? e.message : String(e);
}

/** A parameter a description's config makes: its name, shape, and which part of the description makes it (for messages). */
export interface PlannedParameter {
  readonly name: string;
  readonly shape: readonly number[];
  /** What makes it, e.g. `layers[1].config`. */
  readonly owner: string;
}

/**
 * Checks a description's `parameters` list against what its config makes: every entry an object
 * `{ name, shape, dtype }` (a float dtype), no duplicate, exactly the planned names with the planned
 * shapes. Gives the list in canonical form (the file's order).
 */
export function readParameterList(list: readonly unknown[], planned: readonly PlannedParameter[], fail: Fail): ParameterDescription[] {
  const described = new Map<string, { shape: number[]; dtype: string; index: number }>();
  list.forEach((pd: unknown, k: number) => {
    const at = `parameters[${k}]`;
    if (!isObject(pd)) throw fail(at, `expected an object { name, shape, dtype }, got ${describe(pd)}`);
    for (const f of Object.keys(pd)) {
      if (!['name', 'shape', 'dtype'].includes(f)) throw fail(`${at}.${f}`, 'unknown field');
    }
    if (typeof pd.name !== 'string') throw fail(`${at}.name`, `expected a string, got ${describe(pd.name)}`);
    if (described.has(pd.name)) throw fail(`${at}.name`, `duplicate parameter ${quote(pd.name)}`);
    if (!isShape(pd.shape)) throw fail(`${at}.shape`, 'expected an array of non-negative integers');
    if (typeof pd.dtype !== 'string' || !FLOAT_DTYPES.includes(pd.dtype)) {
      throw fail(`${at}.dtype`, `expected one of ${FLOAT_DTYPES.join(', ')}, got ${describe(pd.dtype)}`);
    }
    described.set(pd.name, { shape: pd.shape, dtype: pd.dtype, index: k });
  });
  const plannedNames = new Set(planned.map((p) => p.name));
  for (const p of planned) {
    const got = described.get(p.name);
    if (got === undefined) throw fail('parameters', `missing parameter ${quote(p.name)} (${p.owner} makes it)`);
    if (shapeText(got.shape) !== shapeText(p.shape)) {
      throw fail(
        `parameters[${got.index}].shape`,
        `${quote(p.name)}: expected ${shapeText(p.shape)} (from ${p.owner}), got ${shapeText(got.shape)}`,
      );
    }
  }
  for (const [name, got] of described) {
    if (!plannedNames.has(name))
      throw fail(`parameters[${got.index}].name`, `unexpected parameter ${quote(name)}: nothing in the description makes it`);
  }
  return [...described].map(([name, p]) => ({ name, shape: p.shape, dtype: p.dtype }));
}
