// `flotilla apply | get | describe | delete`: kubectl's everyday verbs against any master.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify as toYaml } from 'yaml';
import type { ApiClient } from '../client/api-client.js';
import { RpcError, StatusCode } from '../apiserver/rpc/status.js';
import { applyDefaults, lookupKind, validateObject } from '../apiserver/resources/kinds.js';
import type { AnyObject } from '../proto/api/types.js';
import { formatManifestProblem, parseManifest } from '../apiserver/resources/manifest.js';
import type { ApiObject } from '../proto/api/object.js';
import { CONNECT_OPTIONS, connect } from './connect.js';
import { formatTable, table } from './printers.js';

/** Manifest files `apply -f DIR` reads, at most (a directory of thousands is a mistake). */
export const MAX_MANIFEST_FILES = 1_000;
/** What `get all` lists, as kubectl does. */
export const GET_ALL_KINDS = ['pods', 'services', 'deployments', 'replicasets'] as const;

/** Namespaces go first, so objects in a namespace the same apply creates find it. */
function applyOrder(kind: string): number {
  return kind === 'Namespace' ? 0 : 1;
}

/** Bytes read from standard input for `-f -`. */
export const MAX_STDIN_BYTES = 16 * 1024 * 1024;

function fail(out: NodeJS.WritableStream, message: string): number {
  out.write(`error: ${message}\n`);
  return 1;
}

function describeError(err: unknown): string {
  if (err instanceof RpcError) {
    const fields = err.violations.length > 0 ? `\n${err.violations.map((v) => `  ${v.field}: ${v.description}`).join('\n')}` : '';
    return `${err.message} (${err.codeName}${err.reason !== undefined ? `, ${err.reason}` : ''})${fields}`;
  }
  return (err as Error).message ?? String(err);
}

function kindOrFail(name: string): { kind: string; namespaced: boolean; plural: string } {
  const k = lookupKind(name);
  if (k === undefined) throw new Error(`the server doesn't have a resource type "${name}"`);
  return k;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_STDIN_BYTES) throw new Error(`standard input is over ${MAX_STDIN_BYTES} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Manifest files named by -f: a file, a directory's .yaml/.yml/.json files (sorted), or - (stdin). */
async function manifestSources(paths: readonly string[]): Promise<{ name: string; text: string }[]> {
  const out: { name: string; text: string }[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push({ name: '<stdin>', text: await readStdin() });
      continue;
    }
    const st = statSync(p);
    const files = st.isDirectory()
      ? readdirSync(p).filter((f) => /\.(ya?ml|json)$/.test(f)).sort().map((f) => join(p, f))
      : [p];
    for (const f of files) {
      if (out.length >= MAX_MANIFEST_FILES) throw new Error(`more than ${MAX_MANIFEST_FILES} manifest files`);
      out.push({ name: f, text: readFileSync(f, 'utf8') });
    }
  }
  return out;
}

export async function applyCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: { ...CONNECT_OPTIONS, filename: { type: 'string', short: 'f', multiple: true }, namespace: { type: 'string', short: 'n' } }, strict: true });
  if (values.filename === undefined || values.filename.length === 0) return fail(out, 'apply needs -f FILE|DIR|-');
  // Every manifest is parsed and validated before anything is sent: a bad one changes nothing.
  const objects: { source: string; object: ApiObject }[] = [];
  const errors: string[] = [];
  for (const src of await manifestSources(values.filename)) {
    const parsed = parseManifest(src.text, src.name, { validate: (o) => validateObject(applyDefaults(inNamespace(o, values.namespace))) });
    if ('problems' in parsed) errors.push(...parsed.problems.map(formatManifestProblem));
    else for (const o of parsed.objects) objects.push({ source: src.name, object: o });
  }
  if (errors.length > 0) return fail(out, `nothing was applied:\n${errors.map((e) => `  ${e}`).join('\n')}`);
  objects.sort((a, b) => applyOrder(a.object.kind) - applyOrder(b.object.kind));
  const client = connect(values);
  let failures = 0;
  try {
    for (const { object } of objects) {
      const k = kindOrFail(object.kind);
      const namespace = k.namespaced ? (object.metadata.namespace ?? values.namespace ?? 'default') : undefined;
      const obj = { ...object, metadata: { ...object.metadata, ...(namespace !== undefined ? { namespace } : {}) } };
      const label = `${k.plural.replace(/s$/, '')}/${obj.metadata.name ?? obj.metadata.generateName ?? ''}`;
      try {
        const verb = await applyOne(client, obj, k.namespaced);
        out.write(`${label} ${verb}\n`);
      } catch (err) {
        failures++;
        out.write(`error: ${label}: ${describeError(err)}\n`);
      }
    }
  } finally {
    await client.close();
  }
  return failures === 0 ? 0 : 1;
}

/** The object with the namespace apply will use (its own, else -n, else default) when its kind is namespaced. */
function inNamespace(o: AnyObject, flag: string | undefined): AnyObject {
  const k = lookupKind(o.kind);
  if (k === undefined || !k.namespaced || (o.metadata.namespace ?? '') !== '') return o;
  return { ...o, metadata: { ...o.metadata, namespace: flag ?? 'default' } } as AnyObject;
}

/** Create, or replace what exists (keeping its status), retrying a lost race once. */
async function applyOne(client: ApiClient, obj: ApiObject, namespaced: boolean): Promise<string> {
  if (obj.metadata.name === undefined || obj.metadata.name === '') {
    await client.create(obj);
    return 'created';
  }
  for (let attempt = 0; ; attempt++) {
    let current: ApiObject | undefined;
    try {
      current = await client.get(obj.kind, obj.metadata.name, namespaced ? (obj.metadata.namespace ?? '') : '');
    } catch (err) {
      if (!(err instanceof RpcError && err.code === StatusCode.NOT_FOUND)) throw err;
    }
    try {
      if (current === undefined) {
        await client.create(obj);
        return 'created';
      }
      const next = { ...obj, metadata: { ...obj.metadata, resourceVersion: current.metadata.resourceVersion } };
      const written = await client.update(next);
      return written.metadata.resourceVersion === current.metadata.resourceVersion ? 'unchanged' : 'configured';
    } catch (err) {
      const raced = err instanceof RpcError && (err.code === StatusCode.ALREADY_EXISTS || err.code === StatusCode.ABORTED);
      if (!raced || attempt >= 2) throw err;
    }
  }
}

function render(objects: readonly ApiObject[], kind: string, output: string | undefined, withNamespace: boolean): string {
  if (output === 'json') return `${JSON.stringify(objects.length === 1 ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`;
  if (output === 'yaml') return toYaml(objects.length === 1 ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects });
  if (objects.length === 0) return '';
  return formatTable(table(kind, objects, { wide: output === 'wide', withNamespace, now: Date.now() }));
}

export async function getCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      ...CONNECT_OPTIONS,
      namespace: { type: 'string', short: 'n' },
      'all-namespaces': { type: 'boolean', short: 'A', default: false },
      selector: { type: 'string', short: 'l' },
      'field-selector': { type: 'string' },
      output: { type: 'string', short: 'o' },
      watch: { type: 'boolean', short: 'w', default: false },
    },
    strict: true,
  });
  const [kindName, name] = positionals;
  if (kindName === undefined) return fail(out, 'get needs a KIND (pods, nodes, deployments, ...)');
  if (values.output !== undefined && !['wide', 'json', 'yaml'].includes(values.output)) return fail(out, `-o ${values.output}: expected wide, json or yaml`);
  const kindNames = kindName === 'all' ? [...GET_ALL_KINDS] : kindName.split(',').filter((n) => n !== '');
  if (kindNames.length > 1) {
    if (name !== undefined || values.watch === true) return fail(out, 'several kinds take neither a NAME nor -w');
    let status = 0;
    for (const [i, kn] of kindNames.entries()) {
      if (i > 0 && values.output === undefined) out.write('\n');
      status = Math.max(status, await getCommand([kn, ...argv.filter((a) => a !== kindName)], out));
    }
    return status;
  }
  const k = kindOrFail(kindNames[0] ?? kindName);
  const all = values['all-namespaces'] === true;
  const namespace = !k.namespaced || all ? '' : (values.namespace ?? 'default');
  const client = connect(values);
  try {
    let resourceVersion: string;
    if (name !== undefined) {
      const obj = await client.get(k.kind, name, namespace);
      out.write(render([obj], k.kind, values.output, false));
      resourceVersion = obj.metadata.resourceVersion ?? '';
      if (values.watch !== true) return 0;
    } else {
      const listed = await client.listAll(k.kind, {
        namespace,
        ...(values.selector !== undefined ? { labelSelector: values.selector } : {}),
        ...(values['field-selector'] !== undefined ? { fieldSelector: values['field-selector'] } : {}),
      });
      if (listed.items.length === 0 && values.output === undefined) out.write(namespace === '' ? 'No resources found\n' : `No resources found in ${namespace} namespace.\n`);
      else out.write(render(listed.items, k.kind, values.output, all && k.namespaced));
      resourceVersion = listed.resourceVersion;
      if (values.watch !== true) return 0;
    }
    const fieldSelector = [values['field-selector'], name !== undefined ? `metadata.name=${name}` : undefined].filter((s) => s !== undefined).join(',');
    for await (const ev of client.watch(k.kind, { namespace, resourceVersion, ...(values.selector !== undefined ? { labelSelector: values.selector } : {}), ...(fieldSelector !== '' ? { fieldSelector } : {}) })) {
      if (ev.type === 'BOOKMARK') continue;
      if (values.output === 'json' || values.output === 'yaml') out.write(render([ev.object], k.kind, values.output, false) + (values.output === 'yaml' ? '---\n' : ''));
      else out.write(formatTable(table(k.kind, [ev.object], { wide: values.output === 'wide', withNamespace: all && k.namespaced, now: Date.now() }), false).replace(/\n$/, ev.type === 'DELETED' ? '   (deleted)\n' : '\n'));
    }
    return 0;
  } catch (err) {
    return fail(out, describeError(err));
  } finally {
    await client.close();
  }
}

export async function deleteCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { ...CONNECT_OPTIONS, namespace: { type: 'string', short: 'n' }, 'grace-period': { type: 'string' }, filename: { type: 'string', short: 'f', multiple: true } },
    strict: true,
  });
  const grace = values['grace-period'] === undefined ? undefined : Number(values['grace-period']);
  if (grace !== undefined && (!Number.isInteger(grace) || grace < 0)) return fail(out, `--grace-period ${values['grace-period']}: expected a whole number of seconds`);
  const targets: { kind: string; name: string; namespace: string; plural: string }[] = [];
  if (values.filename !== undefined) {
    for (const src of await manifestSources(values.filename)) {
      const parsed = parseManifest(src.text, src.name);
      if ('problems' in parsed) return fail(out, parsed.problems.map(formatManifestProblem).join('\n'));
      for (const o of parsed.objects) {
        const k = kindOrFail(o.kind);
        targets.push({ kind: k.kind, plural: k.plural, name: o.metadata.name ?? '', namespace: k.namespaced ? (o.metadata.namespace ?? values.namespace ?? 'default') : '' });
      }
    }
  } else {
    const [kindName, ...names] = positionals;
    if (kindName === undefined || names.length === 0) return fail(out, 'delete needs KIND NAME... or -f FILE');
    const k = kindOrFail(kindName);
    for (const n of names) targets.push({ kind: k.kind, plural: k.plural, name: n, namespace: k.namespaced ? (values.namespace ?? 'default') : '' });
  }
  const client = connect(values);
  let failures = 0;
  try {
    for (const t of targets) {
      try {
        await client.delete(t.kind, t.name, t.namespace, grace !== undefined ? { gracePeriodSeconds: grace } : {});
        out.write(`${t.plural.replace(/s$/, '')} "${t.name}" deleted\n`);
      } catch (err) {
        failures++;
        out.write(`error: ${describeError(err)}\n`);
      }
    }
  } finally {
    await client.close();
  }
  return failures === 0 ? 0 : 1;
}

export async function describeCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, options: { ...CONNECT_OPTIONS, namespace: { type: 'string', short: 'n' } }, strict: true });
  const [kindName, name] = positionals;
  if (kindName === undefined || name === undefined) return fail(out, 'describe needs KIND NAME');
  const k = kindOrFail(kindName);
  const namespace = k.namespaced ? (values.namespace ?? 'default') : '';
  const client = connect(values);
  try {
    const obj = await client.get(k.kind, name, namespace);
    const m = obj.metadata;
    const kv = (map: Readonly<Record<string, string>> | undefined): string => {
      const entries = Object.entries(map ?? {});
      return entries.length === 0 ? '<none>' : entries.map(([a, b]) => `${a}=${b}`).join('\n                   ');
    };
    const lines = [
      `Name:              ${m.name ?? ''}`,
      ...(k.namespaced ? [`Namespace:         ${m.namespace ?? ''}`] : []),
      `Kind:              ${obj.kind}`,
      `Labels:            ${kv(m.labels)}`,
      `Annotations:       ${kv(m.annotations)}`,
      `UID:               ${m.uid ?? ''}`,
      `ResourceVersion:   ${m.resourceVersion ?? ''}`,
      `Created:           ${m.creationTimestamp ?? ''}`,
      ...(m.deletionTimestamp !== undefined ? [`Deleting since:    ${m.deletionTimestamp}`] : []),
      ...(m.finalizers !== undefined && m.finalizers.length > 0 ? [`Finalizers:        ${m.finalizers.join(', ')}`] : []),
      ...(m.ownerReferences !== undefined && m.ownerReferences.length > 0 ? [`Controlled By:     ${m.ownerReferences.map((o) => `${o.kind}/${o.name}`).join(', ')}`] : []),
    ];
    out.write(`${lines.join('\n')}\n`);
    const { metadata: _m, apiVersion: _a, kind: _k, ...rest } = obj as unknown as Record<string, unknown>;
    for (const [section, value] of Object.entries(rest)) {
      out.write(`${section[0]!.toUpperCase()}${section.slice(1)}:\n${toYaml(value).replace(/^/gm, '  ').trimEnd()}\n`);
    }
    const events = await client.list('Event', { namespace: m.namespace ?? '', fieldSelector: `involvedObject.name=${m.name ?? ''},involvedObject.kind=${obj.kind}` }).catch(() => undefined);
    out.write('Events:\n');
    if (events === undefined || events.items.length === 0) out.write('  <none>\n');
    else out.write(`${formatTable(table('Event', events.items, { now: Date.now() })).trimEnd().replace(/^/gm, '  ')}\n`);
    return 0;
  } catch (err) {
    return fail(out, describeError(err));
  } finally {
    await client.close();
  }
}
