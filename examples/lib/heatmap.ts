/**
 * Attention weights as a self-contained SVG heatmap (no scripts, no external fonts): one grid per
 * sentence, the source tokens along x (labels under the grid, written downwards), the output tokens
 * along y (labels on the left), each cell's shade its weight (white 0 to dark blue 1; hovering a
 * cell shows its value), a title over each grid and a colour scale at the top.
 *
 *   await writeAttentionHeatmap('examples/out/translate-attention.svg', [
 *     { title: 'la luz', source: ['la', 'luz'], output: ['the', 'light', '</s>'], weights },
 *   ], { title: 'Attention' });
 *
 * `weights` is row-major `[output.length, source.length]`, as a hypothesis' `attention` from
 * `model.decode(..., { returnAttention: true })` (one row per output token, the eos included).
 * Values are clamped to [0, 1] for the shade; NaN is drawn as 0. Every label and title is escaped,
 * and every size in the document is a finite number whatever the labels.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

import { ShapeError, ValueError, writeFileAtomicAsync } from '../../lib/index.js';
import { escapeXml } from './plot.js';

/** One grid of the heatmap. */
export interface HeatmapGrid {
  /** Shown over the grid. */
  readonly title: string;
  /** The x labels (source tokens), one per column. */
  readonly source: readonly string[];
  /** The y labels (output tokens), one per row. */
  readonly output: readonly string[];
  /** `[output.length, source.length]` row-major. */
  readonly weights: ArrayLike<number>;
}

/** Options of {@link attentionHeatmapSvg}. */
export interface HeatmapOptions {
  /** The document's title, over every grid. Required. */
  readonly title: string;
  /** A cell's side in pixels, in [4, 100]. Default: 22. */
  readonly cell?: number;
}

const FONT = 11;
/** Rough width of a character at the label font (sans-serif, 11 px), for the margins. */
const CHAR_W = 6.6;
/** Labels longer than this are cut (with an ellipsis) so one odd token cannot stretch the picture. */
const MAX_LABEL = 24;

const f = (v: number): string => (Math.round(v * 10) / 10).toString();

function label(text: string): string {
  const chars = [...text];
  return chars.length > MAX_LABEL ? `${chars.slice(0, MAX_LABEL - 1).join('')}…` : text;
}

/** The shade of weight `w`: white at 0 to `#08306b` at 1 (linear in RGB). */
export function shade(w: number): string {
  const t = Number.isNaN(w) ? 0 : Math.min(1, Math.max(0, w));
  const mix = (a: number, b: number): string =>
    Math.round(a + (b - a) * t)
      .toString(16)
      .padStart(2, '0');
  return `#${mix(0xff, 0x08)}${mix(0xff, 0x30)}${mix(0xff, 0x6b)}`;
}

function checkGrid(g: HeatmapGrid, name: string): void {
  if (typeof g !== 'object' || g === null) throw new ValueError('expected { title, source, output, weights }', name);
  if (typeof g.title !== 'string') throw new ValueError('expected a string', `${name}.title`);
  for (const k of ['source', 'output'] as const) {
    const v = g[k];
    if (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== 'string')) {
      throw new ValueError('expected a non-empty array of strings', `${name}.${k}`);
    }
  }
  if (g.weights === null || typeof g.weights !== 'object' || typeof g.weights.length !== 'number') {
    throw new ValueError('expected an array of numbers', `${name}.weights`);
  }
  const want = g.source.length * g.output.length;
  if (g.weights.length !== want) {
    throw new ShapeError(
      `expected ${want} weights (${g.output.length} output x ${g.source.length} source tokens), got ${g.weights.length}`,
      `${name}.weights`,
    );
  }
}

/** The heatmap as an SVG document (a string); see the module comment. Bad grids are ValueErrors / ShapeErrors naming them. */
export function attentionHeatmapSvg(grids: readonly HeatmapGrid[], options: HeatmapOptions): string {
  if (!Array.isArray(grids) || grids.length === 0) throw new ValueError('expected a non-empty array of grids', 'grids');
  grids.forEach((g, i) => checkGrid(g, `grids[${i}]`));
  if (typeof options !== 'object' || options === null || typeof options.title !== 'string') {
    throw new ValueError('expected { title: string }', 'options');
  }
  const cell = options.cell ?? 22;
  if (typeof cell !== 'number' || !Number.isFinite(cell) || cell < 4 || cell > 100) {
    throw new ValueError(`expected a number in [4, 100], got ${String(cell)}`, 'options.cell');
  }
  const pad = 16;
  const len = (labels: readonly string[]): number => Math.max(...labels.map((s) => [...label(s)].length));
  const left = pad + Math.ceil(CHAR_W * Math.max(...grids.map((g) => len(g.output)))) + 8;
  const header = 44 + 26; // document title, then the colour scale
  const gridTitle = 22;

  // Lay the grids out top to bottom.
  const boxes: { g: HeatmapGrid; top: number; bottom: number }[] = [];
  let y = header;
  let width = Math.max(left + 160 + pad, 2 * pad + Math.ceil(CHAR_W * 1.4 * [...options.title].length)); // the scale and the title
  for (const g of grids) {
    const top = y + gridTitle;
    const h = cell * g.output.length;
    const below = 6 + Math.ceil(CHAR_W * len(g.source));
    boxes.push({ g, top, bottom: top + h });
    y = top + h + below + pad;
    width = Math.max(width, left + cell * g.source.length + pad, pad + Math.ceil(CHAR_W * 1.1 * [...g.title].length) + pad);
  }
  const height = y;
  const W = Math.ceil(width);
  const H = Math.ceil(height);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="${FONT}">`,
  );
  out.push(`<title>${escapeXml(options.title)}</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${pad}" y="26" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`);
  // colour scale: 0 ... 1 in ten steps
  out.push('<g>');
  out.push(`<text x="${pad}" y="${44 + 12}">0</text>`);
  for (let k = 0; k < 10; k++) {
    out.push(`<rect x="${pad + 12 + 12 * k}" y="44" width="12" height="14" fill="${shade((k + 0.5) / 10)}"/>`);
  }
  out.push(`<rect x="${pad + 12}" y="44" width="120" height="14" fill="none" stroke="#999999"/>`);
  out.push(`<text x="${pad + 136}" y="${44 + 12}">1 (attention weight)</text>`);
  out.push('</g>');

  for (const { g, top, bottom } of boxes) {
    const S = g.source.length;
    const T = g.output.length;
    out.push('<g>');
    out.push(`<text x="${pad}" y="${f(top - 8)}" font-weight="bold">${escapeXml(g.title)}</text>`);
    for (let t = 0; t < T; t++) {
      for (let s = 0; s < S; s++) {
        const w = Number(g.weights[t * S + s]);
        const shown = Number.isFinite(w) ? w.toFixed(3) : 'NaN';
        out.push(
          `<rect x="${f(left + s * cell)}" y="${f(top + t * cell)}" width="${f(cell)}" height="${f(cell)}" fill="${shade(w)}"><title>${escapeXml(`${g.output[t]} / ${g.source[s]}: ${shown}`)}</title></rect>`,
        );
      }
    }
    out.push(`<rect x="${left}" y="${f(top)}" width="${f(cell * S)}" height="${f(cell * T)}" fill="none" stroke="#999999"/>`);
    out.push('<g fill="#333333">');
    for (let t = 0; t < T; t++) {
      out.push(
        `<text x="${left - 6}" y="${f(top + (t + 0.5) * cell + FONT / 3)}" text-anchor="end">${escapeXml(label(g.output[t]))}</text>`,
      );
    }
    for (let s = 0; s < S; s++) {
      const x = left + (s + 0.5) * cell + FONT / 3;
      out.push(`<text transform="translate(${f(x)} ${f(bottom + 6)}) rotate(90)">${escapeXml(label(g.source[s]))}</text>`);
    }
    out.push('</g>');
    out.push('</g>');
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Writes {@link attentionHeatmapSvg}'s document to `path`, creating its folder, atomically. */
export async function writeAttentionHeatmap(path: string, grids: readonly HeatmapGrid[], options: HeatmapOptions): Promise<void> {
  const svg = attentionHeatmapSvg(grids, options);
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomicAsync(path, new TextEncoder().encode(svg));
}
