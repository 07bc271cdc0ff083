/**
 * Progress reporting for the examples: a one-line bar on a terminal, plain lines elsewhere (a log
 * file, a CI job, a child process's pipe), and the callbacks that drive it from `model.fit`.
 *
 *   const bar = progressBar('epoch 1/3', batches);
 *   bar.update(i + 1, 'loss 1.234');          // redrawn in place on a TTY (at most ~10 times a second)
 *   bar.finish('loss 1.201');                 // the final state, then a newline
 *
 *   await model.fit(data, { epochs, ...fitProgress(epochs, batches) });
 *
 * On a TTY (`stream.isTTY`) the bar is redrawn with `\r` and sized to `stream.columns`; otherwise a
 * line is written each time another tenth of the total is done, and one when it finishes, so that a
 * log stays short and readable.
 */
import type { BatchLog, EpochLog } from '../../lib/index.js';

/** A running progress display; see {@link progressBar}. */
export interface Progress {
  /** `done` of the total are done (clamped into [0, total]); `info` is shown after the counts. */
  update(done: number, info?: string): void;
  /** Shows the final state (done = total) and ends the line. Later calls do nothing. */
  finish(info?: string): void;
}

/** The stream a progress display writes to: a WriteStream, or anything with the fields it reads. */
export type ProgressStream = Pick<NodeJS.WriteStream, 'write'> & { readonly isTTY?: boolean; readonly columns?: number };

/** Seconds as `m:ss`, or `h:mm:ss` from an hour on; `--:--` when not finite. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** An integer with thousands separators: `12,345`. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Milliseconds between two redraws of a TTY bar (about 10 a second). */
const REDRAW_MS = 100;

/**
 * A progress display for `total` units of work, labelled `label`, on `stream` (default: stdout).
 * See the module comment for what it writes on a terminal and elsewhere.
 */
export function progressBar(label: string, total: number, stream: ProgressStream = process.stdout): Progress {
  if (!(total >= 0) || !Number.isFinite(total)) throw new RangeError(`progressBar: expected a total >= 0, got ${total}`);
  const tty = stream.isTTY === true;
  const start = performance.now();
  let lastDraw = -Infinity;
  let lastDecile = 0;
  let finished = false;
  let done = 0;

  const totalText = formatCount(total);
  const line = (withBar: boolean, info: string | undefined): string => {
    const elapsed = (performance.now() - start) / 1000;
    const fraction = total === 0 ? 1 : done / total;
    const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
    const eta = done >= total ? '' : done > 0 ? `<${formatDuration((elapsed * (total - done)) / done)}` : '<--:--';
    const time = `${formatDuration(elapsed)}${eta}`;
    if (!withBar) return `${label}  ${pct}  ${formatCount(done)}/${totalText}  ${time}${info ? `  ${info}` : ''}`;
    // On a terminal the counts and times are padded so that the bar keeps its width from one redraw to the next.
    const stats = `${pct}  ${formatCount(done).padStart(totalText.length)}/${totalText}  ${time.padEnd(10)}`;
    const tail = `${stats}${info ? `  ${info}` : ''}`;
    const columns = stream.columns && stream.columns > 0 ? stream.columns : 80;
    // The line must fit in columns - 1 (the last column would wrap on some terminals): the bar takes
    // 10 to 30 columns, the info is cut where it does not fit, and a terminal too narrow for a
    // 10-column bar beside the label and the counts gets no bar.
    const fixed = label.length + 4 + stats.length; // label + ' [' + '] ' + stats
    if (columns - 1 - fixed < 10) return `${label}  ${tail}`.slice(0, columns - 1).trimEnd();
    const width = Math.max(10, Math.min(30, columns - 1 - fixed - (info ? info.length + 2 : 0)));
    const filled = Math.round(fraction * width);
    const bar = `${'='.repeat(filled)}${filled < width ? '>' : ''}${' '.repeat(Math.max(0, width - filled - 1))}`;
    return `${label} [${bar}] ${tail}`.slice(0, columns - 1).trimEnd();
  };

  const draw = (info: string | undefined): void => {
    stream.write(`\r${line(true, info)}\x1b[K`);
    lastDraw = performance.now();
  };

  return {
    update(n: number, info?: string): void {
      if (finished) return;
      done = Math.max(0, Math.min(total, Number.isFinite(n) ? n : 0));
      if (tty) {
        if (performance.now() - lastDraw >= REDRAW_MS) draw(info);
        return;
      }
      // Plain lines: one per tenth crossed (the last tenth is left to finish).
      const decile = total === 0 ? 10 : Math.floor((done / total) * 10);
      if (decile > lastDecile && done < total) {
        lastDecile = decile;
        stream.write(`${line(false, info)}\n`);
      }
    },
    finish(info?: string): void {
      if (finished) return;
      finished = true;
      done = total;
      if (tty) {
        draw(info);
        stream.write('\n');
      } else {
        stream.write(`${line(false, info)}\n`);
      }
    },
  };
}

/** Options of {@link fitProgress}. */
export interface FitProgressOptions {
  /** Where to write. Default: stdout. */
  readonly stream?: ProgressStream;
  /**
   * What the throughput counts: `'ex'` (examples, i.e. sequences, what `fit` reports) by default;
   * with `perExample` (e.g. the window length of a language model) the rate is multiplied by it,
   * e.g. `{ unit: 'char', perExample: 100 }` shows characters per second.
   */
  readonly unit?: string;
  /** Units per example (see `unit`). Default: 1. */
  readonly perExample?: number;
}

/** The `model.fit` callbacks made by {@link fitProgress}. */
export interface FitProgressCallbacks {
  readonly onBatchEnd: (log: BatchLog) => void;
  readonly onEpochEnd: (log: EpochLog) => void;
}

/** `1.2345` with 4 significant decimals, or `-` for null/NaN. */
function num(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(4);
}

/**
 * Callbacks for `model.fit` options: a bar per epoch (loss and first metric of the latest batch,
 * throughput so far) and, at each epoch's end, one summary line:
 * `epoch 2/5  loss 1.2345  accuracy 0.6100  val loss 1.3001  val accuracy 0.5800  12,345 ex/s  61.2 s`.
 * The seconds run from the end of the previous epoch (so they include validation).
 */
export function fitProgress(epochs: number, batchesPerEpoch: number, options: FitProgressOptions = {}): FitProgressCallbacks {
  const stream = options.stream ?? process.stdout;
  const unit = options.unit ?? 'ex';
  const perExample = options.perExample ?? 1;
  const width = String(epochs).length;
  const labelOf = (epoch: number): string => `epoch ${String(epoch + 1).padStart(width)}/${epochs}`;
  let bar: Progress | null = null;
  let barEpoch = -1;
  let epochStart = performance.now();
  const rate = (examplesPerSecond: number): string => `${formatCount(examplesPerSecond * perExample)} ${unit}/s`;
  return {
    onBatchEnd(log: BatchLog): void {
      if (bar === null || barEpoch !== log.epoch) {
        bar = progressBar(labelOf(log.epoch), batchesPerEpoch, stream);
        barEpoch = log.epoch;
      }
      const metric = log.metric === null ? '' : `  ${Object.keys(log.metrics)[0]} ${num(log.metric)}`;
      bar.update(log.batch + 1, `loss ${num(log.loss)}${metric}  ${rate(log.examplesPerSecond)}`);
    },
    onEpochEnd(log: EpochLog): void {
      const seconds = (performance.now() - epochStart) / 1000;
      epochStart = performance.now();
      const parts = [`loss ${num(log.loss)}`];
      for (const [k, v] of Object.entries(log.metrics)) parts.push(`${k} ${num(v)}`);
      if (log.valLoss !== null) parts.push(`val loss ${num(log.valLoss)}`);
      for (const [k, v] of Object.entries(log.valMetrics ?? {})) parts.push(`val ${k} ${num(v)}`);
      parts.push(rate(log.examplesPerSecond), `${seconds.toFixed(1)} s`);
      // The summary line takes the place of the epoch's bar (on a TTY the bar's line is cleared first).
      if (bar !== null && stream.isTTY) stream.write('\r\x1b[K');
      bar = null;
      stream.write(`${labelOf(log.epoch)}  ${parts.join('  ')}\n`);
    },
  };
}
