/**
 * Loss curves as a self-contained SVG line chart (no dependencies, no scripts, no external fonts):
 * axes with "nice" ticks and labels, a title, a legend, one colour per series.
 *
 *   await writeLossPlot('examples/out/char-lm-loss.svg', [
 *     { name: 'train', values: history.loss },
 *     { name: 'validation', values: history.valLoss },
 *   ], { title: 'Char LM', xLabel: 'epoch', yLabel: 'loss (nats)' });
 *
 * A series' points are at x = 1, 2, 3, ... (epochs), or at its own `x` when given (e.g. a
 * per-batch curve in fractional epochs beside a per-epoch one). NaN and infinite values are gaps
 * in the line; a lone point (and every point of a short series) gets a marker; an empty or all-NaN
 * chart still gives a valid SVG saying "no data".
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

import { writeFileAtomicAsync } from '../../lib/index.js';

/** One line of the chart. */
export interface PlotSeries {
  /** Shown in the legend. */
  readonly name: string;
  /** The y values; NaN/Infinity leave a gap. */
  readonly values: readonly number[];
  /** The x of each value (same length as `values`). Default: 1, 2, 3, ... */
  readonly x?: readonly number[];
}

/** Options of {@link lossPlotSvg}. */
export interface PlotOptions {
  /** The chart's title. Required. */
  readonly title: string;
  /** Label under the x axis. Default: `'epoch'`. */
  readonly xLabel?: string;
  /** Label beside the y axis. Default: `'loss'`. */
  readonly yLabel?: string;
  /** Width in pixels. Default: 720. */
  readonly width?: number;
  /** Height in pixels. Default: 420. */
  readonly height?: number;
}

/** Tableau 10: distinct on screen and in grey-scale print. */
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** Text made safe for SVG character data and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** Ticks at 1, 2 or 5 times a power of ten covering [lo, hi], about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5, integer = false): { ticks: number[]; lo: number; hi: number; step: number } {
  if (!(hi > lo)) {
    // One value (or none): a unit-wide range around it.
    const pad = lo === 0 || !Number.isFinite(lo) ? 1 : Math.abs(lo) * 0.1;
    return niceTicks((Number.isFinite(lo) ? lo : 0) - pad, (Number.isFinite(lo) ? lo : 0) + pad, count, integer);
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  let step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  if (integer) step = Math.max(1, Math.round(step));
  const first = Math.floor(lo / step + 1e-9) * step;
  const last = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v <= last + step * 1e-6; v += step) ticks.push(Number(v.toPrecision(12)));
  return { ticks, lo: first, hi: last, step };
}

function tickLabel(v: number, step: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e5 || abs < 1e-3) return v.toExponential(1);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(decimals);
}

const f = (v: number): string => (Math.round(v * 10) / 10).toString();

/** The chart as an SVG document (a string); see the module comment. */
export function lossPlotSvg(series: readonly PlotSeries[], options: PlotOptions): string {
  const W = options.width ?? 720;
  const H = options.height ?? 420;
  const xLabel = options.xLabel ?? 'epoch';
  const yLabel = options.yLabel ?? 'loss';
  const left = 72,
    right = 24,
    top = 44,
    bottom = 56;
  const pw = W - left - right;
  const ph = H - top - bottom;

  const points = series.map((s) => s.values.map((y, i) => [s.x ? s.x[i] : i + 1, y] as const));
  const finite = points.flat().filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<title>${escapeXml(options.title)}</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${f(W / 2)}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`);

  if (finite.length === 0) {
    out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#333333"/>`);
    out.push(`<text x="${f(left + pw / 2)}" y="${f(top + ph / 2)}" text-anchor="middle" fill="#666666">no data</text>`);
    out.push('</svg>');
    return `${out.join('\n')}\n`;
  }

  const xs = finite.map(([x]) => x);
  const ys = finite.map(([, y]) => y);
  const allIntX = points.every((p) => p.every(([x]) => Number.isInteger(x)));
  const xt = niceTicks(Math.min(...xs), Math.max(...xs), 8, allIntX);
  const yt = niceTicks(Math.min(...ys), Math.max(...ys), 6);
  const sx = (x: number): number => left + ((x - xt.lo) / (xt.hi - xt.lo)) * pw;
  const sy = (y: number): number => top + ph - ((y - yt.lo) / (yt.hi - yt.lo)) * ph;

  // grid, ticks and tick labels
  out.push('<g stroke="#e5e5e5">');
  for (const v of yt.ticks) out.push(`<line x1="${left}" x2="${left + pw}" y1="${f(sy(v))}" y2="${f(sy(v))}"/>`);
  for (const v of xt.ticks) out.push(`<line x1="${f(sx(v))}" x2="${f(sx(v))}" y1="${top}" y2="${top + ph}"/>`);
  out.push('</g>');
  out.push(
    `<g stroke="#333333"><line x1="${left}" x2="${left}" y1="${top}" y2="${top + ph}"/><line x1="${left}" x2="${left + pw}" y1="${top + ph}" y2="${top + ph}"/>`,
  );
  for (const v of yt.ticks) out.push(`<line x1="${left - 5}" x2="${left}" y1="${f(sy(v))}" y2="${f(sy(v))}"/>`);
  for (const v of xt.ticks) out.push(`<line x1="${f(sx(v))}" x2="${f(sx(v))}" y1="${top + ph}" y2="${top + ph + 5}"/>`);
  out.push('</g>');
  out.push('<g fill="#333333">');
  for (const v of yt.ticks) out.push(`<text x="${left - 8}" y="${f(sy(v) + 4)}" text-anchor="end">${tickLabel(v, yt.step)}</text>`);
  for (const v of xt.ticks) out.push(`<text x="${f(sx(v))}" y="${top + ph + 19}" text-anchor="middle">${tickLabel(v, xt.step)}</text>`);
  out.push('</g>');
  out.push(`<text x="${f(left + pw / 2)}" y="${H - 14}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${f(top + ph / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`);

  // the lines: a NaN ends a segment; markers where a series is short or a point stands alone
  points.forEach((pts, k) => {
    const color = COLORS[k % COLORS.length];
    let d = '';
    let pen = false;
    const marks: string[] = [];
    pts.forEach(([x, y], i) => {
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${f(sx(x))} ${f(sy(y))}`;
      pen = true;
      const prevOk = i > 0 && Number.isFinite(pts[i - 1][1]) && Number.isFinite(pts[i - 1][0]);
      const nextOk = i + 1 < pts.length && Number.isFinite(pts[i + 1][1]) && Number.isFinite(pts[i + 1][0]);
      if (pts.length <= 30 || (!prevOk && !nextOk)) marks.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="3"/>`);
    });
    out.push(`<g fill="${color}" stroke="${color}">`);
    if (d) out.push(`<path d="${d}" fill="none" stroke-width="2" stroke-linejoin="round"/>`);
    out.push(...marks);
    out.push('</g>');
  });

  // legend, top right inside the plot area
  const legendW = 28 + 7 * Math.max(...series.map((s) => s.name.length), 4);
  const lx = left + pw - legendW - 8;
  const ly = top + 8;
  out.push(
    `<g><rect x="${lx}" y="${ly}" width="${legendW}" height="${8 + 18 * series.length}" fill="#ffffff" fill-opacity="0.85" stroke="#cccccc"/>`,
  );
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    const y = ly + 16 + 18 * k;
    out.push(`<line x1="${lx + 6}" x2="${lx + 22}" y1="${y - 4}" y2="${y - 4}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${lx + 26}" y="${y}">${escapeXml(s.name)}</text>`);
  });
  out.push('</g>');
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Writes {@link lossPlotSvg}'s chart to `path`, creating its folder, atomically (never a half-written file). */
export async function writeLossPlot(path: string, series: readonly PlotSeries[], options: PlotOptions): Promise<void> {
  const svg = lossPlotSvg(series, options);
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomicAsync(path, new TextEncoder().encode(svg));
}
