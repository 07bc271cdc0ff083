/**
 * The examples' shared helpers (examples/lib): the progress display, the SVG loss plot, the
 * attention heatmap and the flag parser.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { DATA, FlagError, OUT, flags, usage } from '../examples/lib/cli.js';
import { escapeXml, lossPlotSvg, niceTicks, writeLossPlot } from '../examples/lib/plot.js';
import { attentionHeatmapSvg, shade, writeAttentionHeatmap } from '../examples/lib/heatmap.js';
import { fitProgress, formatCount, formatDuration, progressBar, type ProgressStream } from '../examples/lib/progress.js';

/** A stream that records what is written; a TTY of `columns` columns when `columns` is given. */
function fakeStream(columns?: number): ProgressStream & { text: () => string } {
  const chunks: string[] = [];
  return {
    isTTY: columns !== undefined,
    columns,
    write(chunk: string | Uint8Array): boolean {
      chunks.push(typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk));
      return true;
    },
    text: () => chunks.join(''),
  } as ProgressStream & { text: () => string };
}

/** Checks that every tag of `svg` is closed in order (a small well-formedness check, no parser needed). */
function expectWellFormed(svg: string): void {
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, close, name, selfClose] = m;
    if (selfClose) continue;
    if (close) expect(stack.pop()).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
  // Text and attribute values never hold a raw '<' or a bare '&'.
  expect(svg.replace(/<[^>]*>/g, '')).not.toMatch(/<|&(?!(amp|lt|gt|quot|#39);)/);
}

describe('progressBar', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes plain lines at most every 10% and a final line when not on a TTY', () => {
    const s = fakeStream();
    const bar = progressBar('train', 95, s);
    for (let i = 1; i <= 95; i++) bar.update(i, `loss ${i}`);
    bar.finish('loss final');
    const lines = s
      .text()
      .split('\n')
      .filter((l) => l !== '');
    expect(lines.length).toBe(10); // 10%, 20%, ..., 90%, then the final line
    expect(lines[0]).toMatch(/^train +10% +10\/95 +0:00<0:00 +loss 10$/);
    expect(lines[9]).toMatch(/^train +100% +95\/95 +0:00 +loss final$/);
    expect(s.text()).not.toContain('\r');
    // finish is once; updates after it do nothing
    bar.finish('again');
    bar.update(3);
    expect(
      s
        .text()
        .split('\n')
        .filter((l) => l !== '').length,
    ).toBe(10);
  });

  it('redraws one line on a TTY, throttled, sized to the columns', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const s = fakeStream(70);
    const bar = progressBar('epoch 1/3', 1000, s);
    bar.update(10, 'loss 2.000');
    for (let i = 11; i < 500; i++) bar.update(i, 'loss 1.900'); // within 100 ms: not drawn
    expect(s.text().split('\r').length - 1).toBe(1);
    vi.advanceTimersByTime(150);
    bar.update(500, 'loss 1.500');
    const draws = s.text().split('\r').slice(1);
    expect(draws.length).toBe(2);
    const last = draws[1].replace('\x1b[K', '');
    expect(last).toMatch(/^epoch 1\/3 \[=+> *\] +50% +500\/1,000 +0:00<0:00 +loss 1\.500$/);
    expect(last.length).toBeLessThanOrEqual(69);
    expect(s.text()).not.toContain('\n');
    bar.finish('loss 1.234');
    const final = s.text().split('\r').pop() as string;
    expect(final).toMatch(/^epoch 1\/3 \[=+\] +100% +1,000\/1,000 +0:00 +loss 1\.234\x1b\[K\n$/);
  });

  it('keeps a narrow terminal to one line: the info is cut first, then the bar left out', () => {
    const s = fakeStream(60);
    const bar = progressBar('a label', 10, s);
    bar.update(5, 'some long information text that cannot fit beside the bar');
    let line = s.text().split('\r')[1].replace('\x1b[K', '');
    expect(line.length).toBeLessThanOrEqual(59);
    expect(line).toMatch(/^a label \[=====> {4}\] +50% +5\/10 +0:00<0:00 +some long/);

    const narrow = fakeStream(30);
    progressBar('a long label here', 10, narrow).update(5, 'some information text');
    line = narrow.text().split('\r')[1].replace('\x1b[K', '');
    expect(line.length).toBeLessThanOrEqual(29);
    expect(line).not.toContain('[');
  });

  it('clamps done, accepts a total of 0 and refuses a bad total', () => {
    const s = fakeStream();
    const bar = progressBar('x', 0, s);
    bar.update(5);
    bar.finish();
    expect(s.text()).toBe('x  100%  0/0  0:00\n');
    expect(() => progressBar('x', -1, s)).toThrow(RangeError);
    expect(() => progressBar('x', NaN, s)).toThrow(RangeError);
  });

  it('formats durations and counts', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(61.4)).toBe('1:01');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(Infinity)).toBe('--:--');
    expect(formatCount(1234567.4)).toBe('1,234,567');
    expect(formatCount(999)).toBe('999');
  });
});

describe('fitProgress', () => {
  const batch = (epoch: number, b: number) => ({
    epoch,
    batch: b,
    loss: 2 - b / 10,
    metric: 0.5,
    metrics: { accuracy: 0.5 },
    examples: 32,
    examplesPerSecond: 1000,
  });
  const epochLog = (epoch: number) => ({
    epoch,
    batches: 10,
    loss: 1.5,
    metric: 0.6,
    metrics: { accuracy: 0.6 },
    valLoss: 1.7,
    valMetrics: { accuracy: 0.55 },
    examplesPerSecond: 1234.4,
  });

  it('drives a bar per epoch and prints an epoch summary', () => {
    const s = fakeStream();
    const p = fitProgress(2, 10, { stream: s, unit: 'char', perExample: 100 });
    for (let e = 0; e < 2; e++) {
      for (let b = 0; b < 10; b++) p.onBatchEnd(batch(e, b));
      p.onEpochEnd(epochLog(e));
    }
    const lines = s
      .text()
      .split('\n')
      .filter((l) => l !== '');
    expect(lines[0]).toMatch(/^epoch 1\/2 +10% +1\/10 .*loss 2\.0000 +accuracy 0\.5000 +100,000 char\/s$/);
    const summaries = lines.filter((l) => l.includes('val loss'));
    expect(summaries.length).toBe(2);
    expect(summaries[1]).toMatch(
      /^epoch 2\/2 +loss 1\.5000 +accuracy 0\.6000 +val loss 1\.7000 +val accuracy 0\.5500 +123,440 char\/s +\d+\.\d s$/,
    );
  });

  it('clears the bar before the summary on a TTY, and handles logs without metrics', () => {
    const s = fakeStream(100);
    const p = fitProgress(1, 3, { stream: s });
    p.onBatchEnd({ ...batch(0, 0), metric: null, metrics: {} });
    p.onEpochEnd({ ...epochLog(0), metric: null, metrics: {}, valLoss: null, valMetrics: null });
    expect(s.text()).toMatch(/\r\x1b\[Kepoch 1\/1 +loss 1\.5000 +1,234 ex\/s +\d+\.\d s\n$/);
    expect(s.text()).not.toContain('accuracy');
  });
});

describe('lossPlotSvg', () => {
  it('draws a well-formed chart with axes, ticks, labels, a legend and one colour per series', () => {
    const svg = lossPlotSvg(
      [
        { name: 'train', values: [2.5, 1.9, 1.6, 1.5] },
        { name: 'validation', values: [2.4, 2.0, 1.8, 1.75] },
      ],
      { title: 'Loss', xLabel: 'epoch', yLabel: 'bits' },
    );
    expectWellFormed(svg);
    expect(svg).toContain('>Loss</text>');
    expect(svg).toContain('>epoch</text>');
    expect(svg).toContain('>bits</text>');
    expect(svg).toContain('>train</text>');
    expect(svg).toContain('>validation</text>');
    expect(svg.match(/<path /g)?.length).toBe(2);
    const colours = new Set([...svg.matchAll(/<path [^>]*\bd="[^"]*"[^>]*>/g)].map((m) => m[0]));
    expect(colours.size).toBe(2);
    const lines = svg.match(/<g fill="(#[0-9a-f]{6})" stroke="\1">/g) ?? [];
    expect(lines.length).toBe(2);
    expect(new Set(lines).size).toBe(2);
    // integer x ticks 1..4 and y ticks in steps of 0.2 covering [1.5, 2.5]
    for (const t of ['1', '2', '3', '4']) expect(svg).toContain(`text-anchor="middle">${t}</text>`);
    expect(svg).toContain('text-anchor="end">1.4</text>');
    expect(svg).toContain('text-anchor="end">2.6</text>');
  });

  it('escapes text', () => {
    const svg = lossPlotSvg([{ name: 'a<b> & "c"', values: [1, 2] }], {
      title: '<script>alert(1)</script>',
      xLabel: "it's",
      yLabel: 'x & y',
    });
    expectWellFormed(svg);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(svg).toContain('a&lt;b&gt; &amp; &quot;c&quot;');
    expect(svg).toContain('it&#39;s');
    expect(escapeXml(`<&>"'`)).toBe('&lt;&amp;&gt;&quot;&#39;');
  });

  it('leaves gaps at NaN, marks a lone point, and says "no data" for empty or all-NaN input', () => {
    const gap = lossPlotSvg([{ name: 's', values: [3, 2, NaN, 1.5, 1.2, Infinity] }], { title: 't' });
    expectWellFormed(gap);
    const d = /<path d="([^"]*)"/.exec(gap)?.[1] ?? '';
    expect(d.match(/M/g)?.length).toBe(2);
    expect(d.match(/L/g)?.length).toBe(2);
    expect(gap).not.toContain('NaN');
    expect(gap).not.toContain('Infinity');

    const one = lossPlotSvg([{ name: 's', values: [0.7] }], { title: 't' });
    expectWellFormed(one);
    expect(one).toContain('<circle');
    expect(one).not.toContain('NaN');

    for (const series of [[], [{ name: 'e', values: [] }], [{ name: 'n', values: [NaN, NaN] }]]) {
      const svg = lossPlotSvg(series, { title: 'empty' });
      expectWellFormed(svg);
      expect(svg).toContain('no data');
    }
  });

  it('places a series at its own x values', () => {
    const svg = lossPlotSvg(
      [
        { name: 'per batch', values: [3, 2.5, 2, 1.9], x: [0.25, 0.5, 0.75, 1] },
        { name: 'per epoch', values: [2.1], x: [1] },
      ],
      { title: 't' },
    );
    expectWellFormed(svg);
    // x ticks in tenths from 0.2 to 1.0 (not the integers 1, 2, ... of per-epoch series)
    expect(svg).toContain('text-anchor="middle">0.2</text>');
    expect(svg).toContain('text-anchor="middle">1.0</text>');
    expect(svg).not.toContain('NaN');
  });

  it('chooses nice ticks', () => {
    expect(niceTicks(0, 10, 5).ticks).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(1.37, 2.91, 6).ticks).toEqual([1, 1.5, 2, 2.5, 3]);
    expect(niceTicks(1.37, 2.91, 10).ticks).toEqual([1.2, 1.4, 1.6, 1.8, 2, 2.2, 2.4, 2.6, 2.8, 3]);
    expect(niceTicks(1, 3, 8, true).ticks).toEqual([1, 2, 3]);
    const flat = niceTicks(5, 5, 5);
    expect(flat.lo).toBeLessThan(5);
    expect(flat.hi).toBeGreaterThan(5);
  });

  it('writeLossPlot creates the folder and writes the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gated-plot-'));
    try {
      const path = join(dir, 'a', 'b', 'loss.svg');
      await writeLossPlot(path, [{ name: 'train', values: [1, 0.5] }], { title: 'T' });
      const svg = readFileSync(path, 'utf8');
      expectWellFormed(svg);
      expect(svg).toBe(lossPlotSvg([{ name: 'train', values: [1, 0.5] }], { title: 'T' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('flags', () => {
  const defaults = { epochs: 3, learningRate: 0.01, out: 'dir', quick: false };

  it('returns the defaults, and parses --name value, --name=value, kebab and camel case, booleans', () => {
    expect(flags(defaults, [])).toEqual(defaults);
    expect(flags(defaults, ['--epochs', '5', '--learning-rate=1e-3', '--out', '/tmp/x y', '--quick'])).toEqual({
      epochs: 5,
      learningRate: 1e-3,
      out: '/tmp/x y',
      quick: true,
    });
    expect(flags(defaults, ['--learningRate', '-0.5']).learningRate).toBe(-0.5);
    expect(flags({ ...defaults, quick: true }, ['--no-quick']).quick).toBe(false);
    expect(flags(defaults, ['--quick=false']).quick).toBe(false);
    expect(flags(defaults, ['--quick=true']).quick).toBe(true);
    expect(flags(defaults, ['--out=a=b']).out).toBe('a=b');
    // the defaults object is not changed
    expect(defaults.epochs).toBe(3);
  });

  it('switches to the quick defaults with --quick, where explicit flags still win', () => {
    const quick = { epochs: 1, out: 'q' };
    expect(flags(defaults, ['--quick'], { quick })).toEqual({ epochs: 1, learningRate: 0.01, out: 'q', quick: true });
    expect(flags(defaults, ['--epochs', '7', '--quick'], { quick })).toEqual({ epochs: 7, learningRate: 0.01, out: 'q', quick: true });
    expect(flags(defaults, ['--epochs', '7'], { quick })).toEqual({ ...defaults, epochs: 7 });
  });

  it('names an unknown flag, a bad number, a missing value, a bad boolean and a stray argument', () => {
    const error = (argv: string[]): FlagError => {
      try {
        flags(defaults, argv);
      } catch (e) {
        expect(e).toBeInstanceOf(FlagError);
        return e as FlagError;
      }
      throw new Error(`no error for ${argv.join(' ')}`);
    };
    let e = error(['--epoch', '3']);
    expect(e.flag).toBe('--epoch');
    expect(e.message).toMatch(/unknown flag --epoch \(known: --epochs, --learning-rate, --out, --quick/);
    e = error(['--epochs', 'three']);
    expect(e.flag).toBe('--epochs');
    expect(e.message).toBe("--epochs: expected a number, got 'three'");
    expect(error(['--epochs=']).message).toBe("--epochs: expected a number, got ''");
    expect(error(['--learning-rate', 'NaN']).message).toMatch(/expected a number/);
    expect(error(['--epochs']).message).toBe('--epochs: expected a value');
    expect(error(['--quick=yes']).message).toBe("--quick: expected true or false, got 'yes'");
    expect(error(['--no-epochs']).message).toMatch(/unknown flag --no-epochs/);
    expect(error(['5']).message).toMatch(/unexpected argument '5'/);
  });

  it('--help prints every flag with its default and exits 0', () => {
    let written = '';
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written += String(chunk);
      return true;
    });
    const exit = vi.spyOn(process, 'exit').mockImplementation(((code?: number) => {
      throw new Error(`exit ${code}`);
    }) as never);
    try {
      expect(() => flags(defaults, ['--epochs', '2', '--help'], { quick: { epochs: 1 } })).toThrow('exit 0');
    } finally {
      write.mockRestore();
      exit.mockRestore();
    }
    expect(written).toContain('--epochs <number>');
    expect(written).toMatch(/--epochs <number> +default: 3 \(--quick: 1\)/);
    expect(written).toMatch(/--learning-rate <number> +default: 0\.01/);
    expect(written).toMatch(/--out <string> +default: "dir"/);
    expect(written).toMatch(/--quick +default: false/);
    expect(usage(defaults, 'x.ts')).toMatch(/^usage: npx tsx x\.ts \[flags\]/);
  });

  it('knows where the data and the outputs live', () => {
    expect(isAbsolute(DATA)).toBe(true);
    expect(isAbsolute(OUT)).toBe(true);
    expect(OUT.replace(/\\/g, '/')).toMatch(/\/examples\/out$/);
    if (!process.env.GATED_DATA) expect(DATA.replace(/\\/g, '/')).toMatch(/\/shared\/data$/);
  });
});

describe('attentionHeatmapSvg', () => {
  const grid = {
    title: '1. la luz -> the light',
    source: ['la', 'luz'],
    output: ['the', 'light', '</s>'],
    weights: Float32Array.of(0.9, 0.1, 0.2, 0.8, 0.5, 0.5),
  };

  it('draws one cell per weight, shaded by it, with the tokens as labels', () => {
    const svg = attentionHeatmapSvg([grid, { ...grid, title: 'second' }], { title: 'Attention' });
    expectWellFormed(svg);
    const cells = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="22" height="22" fill="(#[0-9a-f]{6})"><title>([^<]*)<\/title>/g)];
    expect(cells.length).toBe(12); // 2 grids x 3 x 2
    expect(cells[0][1]).toBe(shade(0.9));
    expect(cells[0][2]).toBe('the / la: 0.900');
    expect(cells[3][2]).toBe('light / luz: 0.800');
    expect(cells[5][2]).toBe('&lt;/s&gt; / luz: 0.500'); // the eos row, escaped
    expect(svg).toContain('>luz</text>');
    expect(svg).toContain('>1. la luz -&gt; the light</text>');
    expect(svg).toMatch(/<svg [^>]*width="\d+" height="\d+" viewBox="0 0 \d+ \d+"/);
  });

  it('shades 0 white and 1 dark, clamps outside [0, 1] and draws NaN as 0', () => {
    expect(shade(0)).toBe('#ffffff');
    expect(shade(1)).toBe('#08306b');
    expect(shade(-3)).toBe('#ffffff');
    expect(shade(7)).toBe('#08306b');
    expect(shade(Number.NaN)).toBe('#ffffff');
    expect(shade(0.5)).toBe('#8498b5');
  });

  it('escapes every label and title, and cuts very long labels', () => {
    const svg = attentionHeatmapSvg(
      [{ title: 'a & b <c>', source: ['"x"', "<'y'>", 'w'.repeat(200)], output: ['&'], weights: [0.2, 0.3, 0.5] }],
      { title: '<script>alert(1)</script>' },
    );
    expectWellFormed(svg);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(svg).toContain('>&quot;x&quot;</text>');
    expect(svg).toContain('>&lt;&#39;y&#39;&gt;</text>');
    expect(svg).toContain(`>${'w'.repeat(23)}…</text>`);
    const width = Number(/width="(\d+)"/.exec(svg)![1]);
    expect(width).toBeLessThan(1000); // the long label does not stretch the picture
  });

  it('names a grid whose weights do not match its tokens, and other bad arguments', () => {
    expect(() => attentionHeatmapSvg([{ ...grid, weights: [0.5, 0.5] }], { title: 't' })).toThrow(
      /grids\[0\]\.weights: expected 6 weights \(3 output x 2 source tokens\), got 2/,
    );
    expect(() => attentionHeatmapSvg([], { title: 't' })).toThrow(/grids/);
    expect(() => attentionHeatmapSvg([{ ...grid, source: [] }], { title: 't' })).toThrow(/grids\[0\]\.source/);
    expect(() => attentionHeatmapSvg([grid], { title: 't', cell: Number.POSITIVE_INFINITY })).toThrow(/options\.cell/);
  });

  it('writeAttentionHeatmap creates the folder and writes the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gated-heatmap-'));
    try {
      const path = join(dir, 'nested', 'attention.svg');
      await writeAttentionHeatmap(path, [grid], { title: 'Attention' });
      expect(readFileSync(path, 'utf8')).toBe(attentionHeatmapSvg([grid], { title: 'Attention' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
