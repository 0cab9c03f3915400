// Manifests: the files `flotilla apply -f` reads. YAML with any number of `---` documents, or
// JSON; either may hold a `kind: List` whose items are the objects. All-or-nothing: one bad
// document fails the whole manifest, so an apply never half-succeeds because of a typo.

import type { FieldViolation } from '../../proto/api/object.js';
import { parseAllDocuments } from 'yaml';
import type { AnyObject } from '../../proto/api/types.js';
import { fromJson } from './from-json.js';

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_MANIFEST_DOCUMENTS = 1000;
/** Objects across all documents, List items included. */
export const MAX_MANIFEST_OBJECTS = 1000;
/** YAML aliases expanded per document: bounds "billion laughs" documents. */
export const MAX_YAML_ALIASES = 100;
/** Errors reported per manifest; past this the user has a different problem than typos. */
export const MAX_MANIFEST_PROBLEMS = 100;

export interface ManifestProblem {
  readonly file: string;
  /** 1-based, counting every document in the file, empty ones included. */
  readonly document?: number;
  /** Path within the document's object, e.g. spec.replicas or items[2].metadata.name. */
  readonly field?: string;
  readonly message: string;
}

export type ManifestResult = { readonly objects: AnyObject[] } | { readonly problems: ManifestProblem[] };

/** `deploy.yaml: document 2: spec.replicas: expected an integer, got "three"`. */
export function formatManifestProblem(problem: ManifestProblem): string {
  const parts = [problem.file];
  if (problem.document !== undefined) parts.push(`document ${problem.document}`);
  if (problem.field) parts.push(problem.field);
  parts.push(problem.message);
  return parts.join(': ');
}

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  constructor(readonly problems: readonly ManifestProblem[]) {
    super(problems.map(formatManifestProblem).join('\n'));
  }
}

function isPlain(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function lineAndColumn(text: string, position: number): string {
  const before = text.slice(0, position).split('\n');
  return `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}

/** The documents' values, or the syntax problems. Empty documents are undefined, keeping the numbering. */
function parseDocuments(text: string, file: string): { values: unknown[] } | { problems: ManifestProblem[] } {
  // A .json file is JSON, with JSON's errors. Other text that looks like JSON is tried as JSON
  // first (one document, exact JSON semantics) and otherwise read as YAML, its superset, since a
  // YAML stream may begin with a flow mapping.
  const isJsonFile = file.toLowerCase().endsWith('.json');
  if (isJsonFile || /^\s*[{[]/.test(text)) {
    try {
      return { values: [JSON.parse(text)] };
    } catch (err) {
      if (isJsonFile) {
        const message = err instanceof Error ? err.message : String(err);
        const position = /position (\d+)/.exec(message)?.[1];
        return { problems: [{ file, message: `invalid JSON${position ? ` at ${lineAndColumn(text, Number(position))}` : ''}: ${message}` }] };
      }
    }
  }
  const documents = parseAllDocuments(text);
  if (!Array.isArray(documents)) return { values: [] };
  if (documents.length > MAX_MANIFEST_DOCUMENTS) return { problems: [{ file, message: `more than ${MAX_MANIFEST_DOCUMENTS} documents` }] };
  const problems: ManifestProblem[] = [];
  const values: unknown[] = [];
  documents.forEach((doc, i) => {
    if (doc.errors.length > 0) {
      // The yaml package's first message line already names the line and column.
      for (const e of doc.errors) problems.push({ file, document: i + 1, message: (e.message.split('\n')[0] ?? e.code).replace(/:$/, '') });
      return;
    }
    try {
      values.push(doc.toJS({ maxAliasCount: MAX_YAML_ALIASES }));
    } catch (err) {
      problems.push({ file, document: i + 1, message: err instanceof Error ? err.message : String(err) });
    }
  });
  return problems.length > 0 ? { problems } : { values };
}

/** Parses a manifest into typed objects (via fromJson), or reports every problem in it. */
export function parseManifest(text: string, file: string, options: { validate?: (obj: AnyObject) => readonly FieldViolation[] } = {}): ManifestResult {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_MANIFEST_BYTES) return { problems: [{ file, message: `manifest is ${bytes} bytes, more than the ${MAX_MANIFEST_BYTES} allowed` }] };
  const parsed = parseDocuments(text, file);
  if ('problems' in parsed) return parsed;

  const objects: AnyObject[] = [];
  const problems: ManifestProblem[] = [];
  const convert = (value: unknown, document: number, prefix: string) => {
    if (objects.length >= MAX_MANIFEST_OBJECTS) {
      if (objects.length === MAX_MANIFEST_OBJECTS) problems.push({ file, document, message: `more than ${MAX_MANIFEST_OBJECTS} objects` });
      return;
    }
    const converted = fromJson(value);
    // Beyond the shape: the kind's own rules (names, quantities, ...), so a manifest that would be
    // refused by the server is refused before anything of it is sent.
    const result = 'object' in converted && options.validate !== undefined ? (() => {
      const violations = options.validate!(converted.object);
      return violations.length === 0 ? converted : { violations: [...violations] };
    })() : converted;
    if ('object' in result) objects.push(result.object);
    else for (const v of result.violations) problems.push({ file, document, field: prefix && v.field ? `${prefix}.${v.field}` : prefix || v.field, message: v.description });
  };
  parsed.values.forEach((value, i) => {
    const document = i + 1;
    if (value === null || value === undefined) return;
    if (isPlain(value) && value['kind'] === 'List') {
      const items = value['items'];
      if (items === undefined || items === null) return;
      if (!Array.isArray(items)) {
        problems.push({ file, document, field: 'items', message: 'expected an array' });
        return;
      }
      items.forEach((item: unknown, j) => convert(item, document, `items[${j}]`));
    } else {
      convert(value, document, '');
    }
  });
  if (problems.length > 0) return { problems: problems.slice(0, MAX_MANIFEST_PROBLEMS) };
  return { objects };
}

/** parseManifest for callers that want an exception: a ManifestError holding every problem. */
export function loadManifest(text: string, file: string): AnyObject[] {
  const result = parseManifest(text, file);
  if ('problems' in result) throw new ManifestError(result.problems);
  return result.objects;
}
