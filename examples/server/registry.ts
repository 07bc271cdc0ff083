/**
 * The trained models of the example server: one folder (`modelDir`) holding, per model,
 *
 *   <name>.safetensors   the weights and the model's description (`model.save`, atomic)
 *   <name>.json          the sidecar: task, tokenizer, vocabulary, labels, metric, the job's config
 *
 * The sidecar is written after the weights, atomically (`writeFileAtomicAsync`), so it marks a
 * complete model: at start the server removes the temporary files of saves that a crash or a kill
 * cut short (`cleanupTempFiles`), lists every sidecar whose weights file exists and reads the
 * weights lazily, on the first request that needs them (`loadModelAsync`, then kept in memory). A
 * sidecar that does not parse is skipped with a warning in the log.
 *
 * Each model has an owner (the id of the token whose job trained it, or null: a server without
 * tokens, or an older sidecar); a model is visible to its owner, and an ownerless one to everyone.
 * The registry also counts the bytes its models take, for the disk quota (jobs.ts).
 */
import { access, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { type Model, type VocabularyJSON, Vocabulary, cleanupTempFiles, loadModelAsync, writeFileAtomicAsync } from '../../lib/index.js';
import { RequestError } from './http.js';
import { type JobConfig, type Task, checkModelName } from './schema.js';

/** A language model: token ids in, a sequence of next-token logits out. */
export type LanguageModel = Model<'tokens', 'sequence'>;
/** A classifier: token ids in, one row of class logits per text out. */
export type ClassifierModel = Model<'tokens', 'vector'>;

/** The metric a model was scored with when its job ended. */
export interface ModelMetric {
  /** `'bitsPerCharacter'` (char-lm, lower is better) or `'accuracy'` (classifier). */
  readonly name: 'bitsPerCharacter' | 'accuracy';
  /** Its value. */
  readonly value: number;
  /** `'held-out'` (the job's validation part) or `'train'` (the last epoch, when nothing was held out). */
  readonly on: 'held-out' | 'train';
}

/** The sidecar `<name>.json` (format `gated.server-model`, version 1). */
export interface ModelInfo {
  readonly format: 'gated.server-model';
  readonly version: 1;
  readonly name: string;
  /** The id of the token whose job trained it (server.ts `tokenId`), or null: everyone's. Absent in older sidecars (null). */
  readonly owner?: string | null;
  readonly task: Task;
  /** How text becomes tokens: characters (char-lm) or lowercased words (classifier, lib's `wordTokens`). */
  readonly tokenizer: 'char' | 'word-lowercase';
  readonly vocabulary: VocabularyJSON;
  /** classifier: the name of each label id; null for a char-lm. */
  readonly labels: readonly string[] | null;
  /** classifier: tokens kept per text; null for a char-lm. */
  readonly maxLen: number | null;
  readonly metric: ModelMetric;
  /** ISO 8601 time the model was saved. */
  readonly created: string;
  /** The job that trained it. */
  readonly job: string | null;
  readonly config: JobConfig;
  readonly parameters: number;
  readonly trainSeconds: number;
}

/** What `GET /models` lists for each model. */
export interface ModelSummary {
  readonly name: string;
  readonly task: Task;
  readonly tokenizer: ModelInfo['tokenizer'];
  readonly vocabularySize: number;
  readonly labels: readonly string[] | null;
  readonly metric: ModelMetric;
  readonly created: string;
  readonly parameters: number;
  readonly job: string | null;
  /** model.cell, hiddenSize, layers, embedding. */
  readonly model: JobConfig['model'];
  /** Whether the weights are in memory (loaded or just trained). */
  readonly loaded: boolean;
}

/** One model known to the registry. */
export interface ModelEntry {
  readonly info: ModelInfo;
  readonly vocab: Vocabulary;
}

interface Slot extends ModelEntry {
  weights: Promise<LanguageModel | ClassifierModel> | null;
  loaded: boolean;
  /** Bytes on disk: the weights and the sidecar. */
  bytes: number;
}

type Log = (level: 'info' | 'warn' | 'error', message: string) => void;

function checkInfo(json: unknown, name: string): { info: ModelInfo; vocab: Vocabulary } {
  const o = json as Partial<ModelInfo> | null;
  if (typeof o !== 'object' || o === null) throw new Error('not a JSON object');
  if (o.format !== 'gated.server-model' || o.version !== 1)
    throw new Error(`format ${String(o.format)} version ${String(o.version)}, expected gated.server-model 1`);
  if (o.name !== name) throw new Error(`names the model ${JSON.stringify(o.name)}, not ${JSON.stringify(name)}`);
  if (o.task !== 'char-lm' && o.task !== 'classifier') throw new Error(`unknown task ${JSON.stringify(o.task)}`);
  if (o.task === 'classifier' && (!Array.isArray(o.labels) || typeof o.maxLen !== 'number'))
    throw new Error('a classifier needs labels and maxLen');
  if (typeof o.metric !== 'object' || o.metric === null) throw new Error('no metric');
  if (o.owner !== undefined && o.owner !== null && typeof o.owner !== 'string') throw new Error('owner is not a string');
  const vocab = Vocabulary.fromJSON(o.vocabulary);
  return { info: o as ModelInfo, vocab };
}

/** The models in one folder; see the module comment. */
export class ModelRegistry {
  private readonly slots = new Map<string, Slot>();

  constructor(
    readonly dir: string,
    private readonly log: Log,
  ) {}

  /**
   * Creates the folder if needed, removes the temporary files of interrupted saves (whose writer
   * is gone) and lists the models already in it.
   */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const removed = cleanupTempFiles(this.dir);
    if (removed.length > 0) this.log('info', `models: removed ${removed.length} temporary file(s) of interrupted saves`);
    for (const file of (await readdir(this.dir)).sort()) {
      if (!file.endsWith('.json') || file.startsWith('.')) continue;
      const name = file.slice(0, -'.json'.length);
      try {
        checkModelName(name);
        await access(join(this.dir, `${name}.safetensors`));
        const { info, vocab } = checkInfo(JSON.parse(await readFile(join(this.dir, file), 'utf8')), name);
        this.slots.set(name, { info, vocab, weights: null, loaded: false, bytes: await this.bytesOf(name) });
      } catch (error) {
        this.log('warn', `models: skipping ${file}: ${(error as Error).message}`);
      }
    }
  }

  /** Number of models. */
  get size(): number {
    return this.slots.size;
  }

  /** Bytes the models take on disk (weights and sidecars). */
  get bytes(): number {
    let n = 0;
    for (const slot of this.slots.values()) n += slot.bytes;
    return n;
  }

  /** Whether a model of this name exists (whoever owns it: names are shared). */
  has(name: string): boolean {
    return this.slots.has(name);
  }

  /** Every model `owner` may see (null: no tokens, every model), newest first. */
  list(owner: string | null): ModelSummary[] {
    return [...this.slots.values()]
      .filter((s) => visible(s, owner))
      .sort((a, b) => b.info.created.localeCompare(a.info.created))
      .map((s) => this.summary(s));
  }

  /** One model's summary, or a 404. */
  describe(name: string, owner: string | null): ModelSummary {
    return this.summary(this.slot(name, owner));
  }

  /** A language model and its entry: 404 for an unknown name (or another owner's), 400 for a classifier. */
  async languageModel(name: string, owner: string | null): Promise<ModelEntry & { readonly model: LanguageModel }> {
    const slot = this.slot(name, owner);
    if (slot.info.task !== 'char-lm')
      throw new RequestError(400, `model '${name}' is a ${slot.info.task}: it cannot generate (use POST /models/${name}/classify)`, 'name');
    return { ...slot, model: (await this.weights(slot)) as LanguageModel };
  }

  /** A classifier and its entry: 404 for an unknown name (or another owner's), 400 for a language model. */
  async classifier(name: string, owner: string | null): Promise<ModelEntry & { readonly model: ClassifierModel }> {
    const slot = this.slot(name, owner);
    if (slot.info.task !== 'classifier')
      throw new RequestError(400, `model '${name}' is a ${slot.info.task}: it cannot classify (use POST /models/${name}/generate)`, 'name');
    return { ...slot, model: (await this.weights(slot)) as ClassifierModel };
  }

  /** Saves a just-trained model (weights, then the sidecar, each atomically) and lists it. */
  async add(model: LanguageModel | ClassifierModel, info: ModelInfo, vocab: Vocabulary): Promise<void> {
    await model.save(this.weightsPath(info.name));
    await this.commit(info, vocab, model);
  }

  /** Where a model's weights go (a training worker saves them there itself, then calls {@link commit}). */
  weightsPath(name: string): string {
    return join(this.dir, `${checkModelName(name)}.safetensors`);
  }

  /**
   * Writes the sidecar of a model whose weights are saved already, and lists it; `model`: the
   * weights in memory, or null to read them from the file on first use.
   */
  async commit(info: ModelInfo, vocab: Vocabulary, model: LanguageModel | ClassifierModel | null): Promise<void> {
    await writeFileAtomicAsync(join(this.dir, `${info.name}.json`), Buffer.from(`${JSON.stringify(info, null, 2)}\n`));
    const bytes = await this.bytesOf(info.name);
    this.slots.set(info.name, { info, vocab, weights: model === null ? null : Promise.resolve(model), loaded: model !== null, bytes });
  }

  private async bytesOf(name: string): Promise<number> {
    const sizes = await Promise.all(
      ['safetensors', 'json'].map((ext) =>
        stat(join(this.dir, `${name}.${ext}`)).then(
          (s) => s.size,
          () => 0,
        ),
      ),
    );
    return sizes[0] + sizes[1];
  }

  private slot(name: string, owner: string | null): Slot {
    const slot = this.slots.get(name);
    if (!slot || !visible(slot, owner)) throw new RequestError(404, `no model named '${name}' (GET /models lists them)`, 'name');
    return slot;
  }

  private weights(slot: Slot): Promise<LanguageModel | ClassifierModel> {
    if (slot.weights === null) {
      const path = join(this.dir, `${slot.info.name}.safetensors`);
      const outputKind = slot.info.task === 'char-lm' ? 'sequence' : 'vector';
      slot.weights = loadModelAsync(path, { inputKind: 'tokens', outputKind })
        .then((m) => {
          const want = slot.info.task === 'char-lm' ? slot.vocab.size : (slot.info.labels as readonly string[]).length;
          if (m.outputFeatures !== want) throw new Error(`the model gives ${m.outputFeatures} outputs, its sidecar expects ${want}`);
          slot.loaded = true;
          return m as LanguageModel | ClassifierModel;
        })
        .catch((error: unknown) => {
          slot.weights = null; // a later request tries again (the file may have been fixed)
          this.log('error', `models: cannot load ${path}: ${(error as Error).message}`);
          throw new RequestError(500, `model '${slot.info.name}' could not be loaded (see the server log)`);
        });
    }
    return slot.weights;
  }

  private summary(s: Slot): ModelSummary {
    const i = s.info;
    return {
      name: i.name,
      task: i.task,
      tokenizer: i.tokenizer,
      vocabularySize: s.vocab.size,
      labels: i.labels,
      metric: i.metric,
      created: i.created,
      parameters: i.parameters,
      job: i.job,
      model: i.config.model,
      loaded: s.loaded,
    };
  }
}

/** Whether `owner` (null: a server without tokens) may use the model of `slot`. */
function visible(slot: Slot, owner: string | null): boolean {
  return owner === null || (slot.info.owner ?? null) === null || slot.info.owner === owner;
}
