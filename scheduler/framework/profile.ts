// A scheduling profile: which plugins run, at which points, with which score weights and args —
// Kubernetes' KubeSchedulerConfiguration profile, flattened to one list. Written as JSON or YAML:
//
//   schedulerName: default-scheduler
//   percentageOfNodesToScore: 0          # 0: Kubernetes' adaptive default
//   plugins:
//     - name: NodeResourcesFit
//       weight: 1
//       args: { scoringStrategy: MostAllocated }
//     - name: TaintToleration
//       weight: 3
//     - name: PreferCheapNodes           # a custom plugin: a module implementing the interfaces
//       path: ./prefer-cheap-nodes.js    # relative to the profile file
//       weight: 2
//       points: [score]                  # optional: only these points (default: all it implements)
//
// Every problem is a ProfileError naming the file and the field, so a person can fix it.

import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { EXTENSION_POINTS, type ExtensionPoint } from './interfaces.js';

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';
/** Kubernetes' bounds on a score plugin's weight. */
export const MIN_SCORE_WEIGHT = 1;
export const MAX_SCORE_WEIGHT = 100;
/** Bound on plugins per profile. */
export const MAX_PLUGINS = 64;

export interface PluginConfig {
  readonly name: string;
  /** For score: the multiplier of the normalized score. Default 1. */
  readonly weight: number;
  readonly args: Readonly<Record<string, unknown>>;
  /** A module to import (custom plugin); absent: a built-in. Relative to the profile file. */
  readonly path?: string;
  /** Restricts the plugin to these points; absent: every point it implements. */
  readonly points?: readonly ExtensionPoint[];
}

export interface ProfileConfig {
  readonly schedulerName: string;
  /** 1..100, or 0 for Kubernetes' adaptive share (50% − nodes/125, at least 5%). */
  readonly percentageOfNodesToScore: number;
  readonly plugins: readonly PluginConfig[];
}

export class ProfileError extends Error {
  override readonly name = 'ProfileError';
  constructor(readonly source: string, readonly field: string, reason: string, opts?: { cause?: unknown }) {
    super(`${source}: ${field === '' ? '' : `${field}: `}${reason}`, opts);
  }
}

const PLUGIN_FIELDS = new Set(['name', 'weight', 'args', 'path', 'points']);
const PROFILE_FIELDS = new Set(['schedulerName', 'percentageOfNodesToScore', 'plugins']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks an already-parsed document; `source` names it in errors. */
export function validateProfile(doc: unknown, source: string): ProfileConfig {
  if (!isRecord(doc)) throw new ProfileError(source, '', 'must be a mapping with schedulerName, percentageOfNodesToScore and plugins');
  for (const key of Object.keys(doc)) {
    if (!PROFILE_FIELDS.has(key)) throw new ProfileError(source, key, `unknown field (known: ${[...PROFILE_FIELDS].join(', ')})`);
  }
  const schedulerName = doc['schedulerName'] ?? DEFAULT_SCHEDULER_NAME;
  if (typeof schedulerName !== 'string' || schedulerName === '') throw new ProfileError(source, 'schedulerName', 'must be a non-empty string');
  const percentage = doc['percentageOfNodesToScore'] ?? 0;
  if (typeof percentage !== 'number' || !Number.isInteger(percentage) || percentage < 0 || percentage > 100) {
    throw new ProfileError(source, 'percentageOfNodesToScore', `must be an integer 0..100 (0: adaptive), not ${JSON.stringify(percentage)}`);
  }
  const rawPlugins = doc['plugins'];
  if (!Array.isArray(rawPlugins) || rawPlugins.length === 0) throw new ProfileError(source, 'plugins', 'must be a non-empty list');
  if (rawPlugins.length > MAX_PLUGINS) throw new ProfileError(source, 'plugins', `at most ${MAX_PLUGINS} plugins, not ${rawPlugins.length}`);
  const seen = new Set<string>();
  const plugins = rawPlugins.map((raw: unknown, i): PluginConfig => {
    const at = `plugins[${i}]`;
    if (!isRecord(raw)) throw new ProfileError(source, at, 'must be a mapping with at least a name');
    for (const key of Object.keys(raw)) {
      if (!PLUGIN_FIELDS.has(key)) throw new ProfileError(source, `${at}.${key}`, `unknown field (known: ${[...PLUGIN_FIELDS].join(', ')})`);
    }
    const name = raw['name'];
    if (typeof name !== 'string' || name === '') throw new ProfileError(source, `${at}.name`, 'must be a non-empty string');
    if (seen.has(name)) throw new ProfileError(source, `${at}.name`, `plugin ${JSON.stringify(name)} is listed twice`);
    seen.add(name);
    const weight = raw['weight'] ?? 1;
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < MIN_SCORE_WEIGHT || weight > MAX_SCORE_WEIGHT) {
      throw new ProfileError(source, `${at}.weight`, `must be an integer ${MIN_SCORE_WEIGHT}..${MAX_SCORE_WEIGHT}, not ${JSON.stringify(weight)}`);
    }
    const args = raw['args'] ?? {};
    if (!isRecord(args)) throw new ProfileError(source, `${at}.args`, 'must be a mapping');
    const path = raw['path'];
    if (path !== undefined && (typeof path !== 'string' || path === '')) throw new ProfileError(source, `${at}.path`, 'must be a non-empty string (a module path)');
    const rawPoints = raw['points'];
    let points: ExtensionPoint[] | undefined;
    if (rawPoints !== undefined) {
      if (!Array.isArray(rawPoints) || rawPoints.length === 0) throw new ProfileError(source, `${at}.points`, `must be a non-empty list of ${EXTENSION_POINTS.join(', ')}`);
      points = rawPoints.map((p: unknown, j): ExtensionPoint => {
        if (typeof p !== 'string' || !(EXTENSION_POINTS as readonly string[]).includes(p)) {
          throw new ProfileError(source, `${at}.points[${j}]`, `unknown extension point ${JSON.stringify(p)} (known: ${EXTENSION_POINTS.join(', ')})`);
        }
        return p as ExtensionPoint;
      });
    }
    return { name, weight, args, ...(typeof path === 'string' ? { path } : {}), ...(points !== undefined ? { points } : {}) };
  });
  return { schedulerName, percentageOfNodesToScore: percentage, plugins };
}

/** Parses JSON (.json) or YAML (anything else) text. */
export function parseProfileText(text: string, source: string): ProfileConfig {
  let doc: unknown;
  try {
    doc = source.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ProfileError(source, '', `not valid ${source.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`, { cause: err });
  }
  return validateProfile(doc, source);
}

export async function readProfileFile(path: string): Promise<ProfileConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ProfileError(path, '', `cannot read: ${(err as Error).message}`, { cause: err });
  }
  return parseProfileText(text, path);
}

/** Kubernetes' default plugin set and weights. */
export const DEFAULT_PROFILE: ProfileConfig = {
  schedulerName: DEFAULT_SCHEDULER_NAME,
  percentageOfNodesToScore: 0,
  plugins: [
    { name: 'NodeUnschedulable', weight: 1, args: {} },
    { name: 'NodeName', weight: 1, args: {} },
    { name: 'TaintToleration', weight: 3, args: {} },
    { name: 'NodeAffinity', weight: 2, args: {} },
    { name: 'NodeResourcesFit', weight: 1, args: { scoringStrategy: 'LeastAllocated' } },
    { name: 'NodeResourcesBalancedAllocation', weight: 1, args: {} },
    { name: 'InterPodAntiAffinity', weight: 1, args: {} },
    { name: 'DefaultBinder', weight: 1, args: {} },
  ],
};
