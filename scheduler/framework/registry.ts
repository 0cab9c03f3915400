// Built-in plugins by name, and custom plugins loaded from a module path. A custom module exports
// (as `default` or `plugin`) either a factory `(context) => Plugin` or a plugin object; either way
// the result is checked to implement the points it is enabled at before the scheduler uses it.

import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DefaultBinder, DEFAULT_BINDER } from '../plugins/default-binder.js';
import { InterPodAntiAffinity, INTER_POD_ANTI_AFFINITY } from '../plugins/inter-pod-anti-affinity.js';
import { NodeAffinity, NODE_AFFINITY } from '../plugins/node-affinity.js';
import { NodeName, NODE_NAME } from '../plugins/node-name.js';
import { NodeResourcesBalancedAllocation, NODE_RESOURCES_BALANCED_ALLOCATION } from '../plugins/node-resources-balanced.js';
import { NodeResourcesFit, NODE_RESOURCES_FIT } from '../plugins/node-resources-fit.js';
import { NodeUnschedulable, NODE_UNSCHEDULABLE } from '../plugins/node-unschedulable.js';
import { TaintToleration, TAINT_TOLERATION } from '../plugins/taint-toleration.js';
import { EXTENSION_POINTS, implementsPoint, type ExtensionPoint, type Plugin, type PluginContext, type PluginFactory, type PodBinder } from './interfaces.js';
import { ProfileError, type PluginConfig, type ProfileConfig } from './profile.js';

export const BUILT_IN_PLUGINS: ReadonlyMap<string, PluginFactory> = new Map<string, PluginFactory>([
  [NODE_RESOURCES_FIT, (c) => NodeResourcesFit.create(c)],
  [NODE_RESOURCES_BALANCED_ALLOCATION, () => NodeResourcesBalancedAllocation.create()],
  [NODE_UNSCHEDULABLE, () => NodeUnschedulable.create()],
  [NODE_NAME, () => NodeName.create()],
  [NODE_AFFINITY, () => NodeAffinity.create()],
  [TAINT_TOLERATION, () => TaintToleration.create()],
  [INTER_POD_ANTI_AFFINITY, () => InterPodAntiAffinity.create()],
  [DEFAULT_BINDER, (c) => DefaultBinder.create(c)],
]);

export interface EnabledPlugin {
  readonly plugin: Plugin;
  readonly weight: number;
  readonly points: ReadonlySet<ExtensionPoint>;
  /** One of BUILT_IN_PLUGINS (not a module, not a caller's registry): it reads only SCHEDULER_POD_FIELDS. */
  readonly builtIn?: boolean;
}

export interface ResolveOptions {
  readonly source: string;
  readonly binder?: PodBinder;
  /** Extra factories by name, checked before the built-ins (tests, embedders). */
  readonly registry?: ReadonlyMap<string, PluginFactory>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function checkPlugin(candidate: unknown, cfg: PluginConfig, at: string, source: string): Plugin {
  if (!isRecord(candidate) || typeof candidate['name'] !== 'string' || candidate['name'] === '') {
    throw new ProfileError(source, at, 'the plugin must be an object with a non-empty string `name`');
  }
  const plugin = candidate as unknown as Plugin;
  const implemented = EXTENSION_POINTS.filter((p) => implementsPoint(plugin, p));
  if (implemented.length === 0) {
    throw new ProfileError(source, at, `plugin ${JSON.stringify(plugin.name)} implements no extension point (methods: preFilter, filter, postFilter, preScore, score, reserve+unreserve, permit, bind)`);
  }
  for (const p of cfg.points ?? []) {
    if (!implementsPoint(plugin, p)) throw new ProfileError(source, `${at}.points`, `plugin ${JSON.stringify(plugin.name)} does not implement ${p} (it implements ${implemented.join(', ')})`);
  }
  if ('normalizeScore' in plugin && typeof (plugin as unknown as Record<string, unknown>)['normalizeScore'] !== 'function') {
    throw new ProfileError(source, at, 'normalizeScore must be a function');
  }
  return plugin;
}

async function importPlugin(cfg: PluginConfig & { path: string }, context: PluginContext, at: string, source: string): Promise<unknown> {
  const file = isAbsolute(cfg.path) ? cfg.path : resolve(dirname(resolve(source)), cfg.path);
  let mod: unknown;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    throw new ProfileError(source, `${at}.path`, `cannot import ${file}: ${(err as Error).message}`, { cause: err });
  }
  const exported = isRecord(mod) ? (mod['default'] ?? mod['plugin']) : undefined;
  if (exported === undefined) throw new ProfileError(source, `${at}.path`, `${file} exports neither \`default\` nor \`plugin\``);
  if (typeof exported === 'function') {
    try {
      return (exported as (c: PluginContext) => unknown)(context);
    } catch (err) {
      throw new ProfileError(source, at, `the factory in ${file} threw: ${(err as Error).message}`, { cause: err });
    }
  }
  return exported;
}

/** Builds every plugin of a profile, checking each against the points it is enabled at. */
export async function resolvePlugins(config: ProfileConfig, opts: ResolveOptions): Promise<EnabledPlugin[]> {
  const enabled: EnabledPlugin[] = [];
  for (let i = 0; i < config.plugins.length; i++) {
    const cfg = config.plugins[i];
    if (cfg === undefined) continue;
    const at = `plugins[${i}]`;
    const context: PluginContext = { args: cfg.args, ...(opts.binder !== undefined ? { binder: opts.binder } : {}) };
    let candidate: unknown;
    // Only BUILT_IN_PLUGINS read nothing beyond SCHEDULER_POD_FIELDS (a module or a caller's
    // registry may say more in Plugin.podFields).
    let builtIn = false;
    if (cfg.path !== undefined) {
      candidate = await importPlugin({ ...cfg, path: cfg.path }, context, at, opts.source);
    } else {
      const registered = opts.registry?.get(cfg.name);
      builtIn = registered === undefined;
      const factory = registered ?? BUILT_IN_PLUGINS.get(cfg.name);
      if (factory === undefined) {
        const known = [...(opts.registry?.keys() ?? []), ...BUILT_IN_PLUGINS.keys()];
        throw new ProfileError(opts.source, `${at}.name`, `unknown plugin ${JSON.stringify(cfg.name)} (built-in: ${known.join(', ')}; a custom plugin needs a path)`);
      }
      try {
        candidate = factory(context);
      } catch (err) {
        throw new ProfileError(opts.source, `${at}.args`, (err as Error).message, { cause: err });
      }
    }
    const plugin = checkPlugin(candidate, cfg, at, opts.source);
    if (plugin.name !== cfg.name) throw new ProfileError(opts.source, `${at}.name`, `the module's plugin is named ${JSON.stringify(plugin.name)}, not ${JSON.stringify(cfg.name)}`);
    const points = new Set(cfg.points ?? EXTENSION_POINTS.filter((p) => implementsPoint(plugin, p)));
    enabled.push({ plugin, weight: cfg.weight, points, builtIn });
  }
  if (!enabled.some((e) => e.points.has('bind'))) throw new ProfileError(opts.source, 'plugins', 'no plugin binds pods (add DefaultBinder)');
  return enabled;
}
