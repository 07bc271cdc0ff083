/**
 * What every example needs around its main function: a tiny flag parser, where the data and the
 * outputs live, and a `main` wrapper that turns a bad flag into a short message (exit 2) and any
 * other error into its stack (exit 1).
 *
 *   const o = flags({ epochs: 3, hidden: 256, quick: false, out: OUT });
 *   // --epochs 5   --hidden=128   --quick   --no-quick   --out /tmp/x   --help
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is `<repo>/examples/lib/cli.ts`). */
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shared data sets: `$GATED_DATA`, else `../shared/data` beside the repository. */
export const DATA: string = process.env.GATED_DATA ? resolve(process.env.GATED_DATA) : resolve(REPO, '..', 'shared', 'data');

/** Where the examples write plots and models by default: `<repo>/examples/out`. */
export const OUT: string = resolve(REPO, 'examples', 'out');

/** A command-line flag that is unknown or has a bad value; `flag` names it (`--epochs`). */
export class FlagError extends Error {
  constructor(
    message: string,
    readonly flag: string,
  ) {
    super(message);
    this.name = 'FlagError';
  }
}

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The `--help` text for `defaults`. */
export function usage(
  defaults: Readonly<Record<string, number | string | boolean>>,
  script = process.argv[1] ?? 'example',
  quick: Readonly<Record<string, number | string | boolean | undefined>> = {},
): string {
  const show = (v: number | string | boolean): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));
  const rows = Object.entries(defaults).map(([k, v]) => {
    const flag = typeof v === 'boolean' ? `--${kebab(k)}` : `--${kebab(k)} <${typeof v}>`;
    const q = quick[k];
    return `  ${flag.padEnd(26)} default: ${show(v)}${q !== undefined ? ` (--quick: ${show(q)})` : ''}`;
  });
  return `usage: npx tsx ${script.replace(`${REPO}/`, '')} [flags]\n\nflags:\n${rows.join('\n')}\n  --help                     this text\n`;
}

/**
 * Parses `argv` against `defaults`: each key is a flag (`hiddenSize` is `--hidden-size` or
 * `--hiddenSize`), whose default's type says how to read it: a number (`--epochs 3`, `--lr=1e-3`),
 * a string (`--out dir`), a boolean (`--quick`, `--quick=false`, `--no-quick`). Returns a new object
 * with the defaults overridden. A flag not in `defaults`, a missing value, a bad number or a
 * positional argument throws a {@link FlagError} naming it; `--help` prints {@link usage} and exits 0.
 * With `options.quick`, `--quick` switches to those defaults (see {@link FlagsOptions}).
 */
export function flags<T extends Record<string, number | string | boolean>>(
  defaults: T,
  argv: readonly string[] = process.argv.slice(2),
  options: FlagsOptions<T> = {},
): T {
  const parsed = parse(defaults, argv, options);
  // --quick: parse again over the quick defaults, so that a flag given explicitly still wins.
  if (options.quick && parsed.quick === true) return parse({ ...defaults, ...options.quick }, argv, options);
  return parsed;
}

/** Options of {@link flags}. */
export interface FlagsOptions<T> {
  /** Defaults that replace `defaults` when `--quick` is given (flags given explicitly still win); shown by `--help`. */
  readonly quick?: Partial<T>;
}

function parse<T extends Record<string, number | string | boolean>>(defaults: T, argv: readonly string[], options: FlagsOptions<T>): T {
  const out: Record<string, number | string | boolean> = { ...defaults };
  const byFlag = new Map<string, string>();
  for (const k of Object.keys(defaults)) {
    byFlag.set(k, k);
    byFlag.set(kebab(k), k);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(usage(defaults, undefined, options.quick));
      process.exit(0);
    }
    if (!arg.startsWith('--') || arg === '--') throw new FlagError(`unexpected argument '${arg}' (flags look like --name value)`, arg);
    const eq = arg.indexOf('=');
    let name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let inline: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let key = byFlag.get(name);
    if (key === undefined && name.startsWith('no-') && inline === undefined) {
      const k = byFlag.get(name.slice(3));
      if (k !== undefined && typeof defaults[k] === 'boolean') {
        key = k;
        name = name.slice(3);
        inline = 'false';
      }
    }
    const flag = `--${name}`;
    if (key === undefined) {
      const known = Object.keys(defaults)
        .map((k) => `--${kebab(k)}`)
        .join(', ');
      throw new FlagError(`unknown flag ${flag} (known: ${known}, --help)`, flag);
    }
    const dflt = defaults[key];
    if (typeof dflt === 'boolean') {
      if (inline === undefined || inline === 'true') out[key] = true;
      else if (inline === 'false') out[key] = false;
      else throw new FlagError(`${flag}: expected true or false, got '${inline}'`, flag);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new FlagError(`${flag}: expected a value`, flag);
      value = argv[++i];
    }
    if (typeof dflt === 'number') {
      const n = value.trim() === '' ? NaN : Number(value);
      if (!Number.isFinite(n)) throw new FlagError(`${flag}: expected a number, got '${value}'`, flag);
      out[key] = n;
    } else {
      out[key] = value;
    }
  }
  return out as T;
}

/**
 * Runs an example's main function: a {@link FlagError} prints its message and the hint `--help`
 * (exit code 2), any other error its stack (exit code 1).
 */
export function main(run: () => Promise<void>): void {
  run().catch((error: unknown) => {
    if (error instanceof FlagError) {
      process.stderr.write(`error: ${error.message}\n(try --help)\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    }
  });
}
