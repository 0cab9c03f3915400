// The framework runtime: runs a profile's plugins at each extension point, in profile order, and
// turns their Statuses into one outcome per point. It holds no cluster state; the scheduler hands
// it the snapshot, the pod and the nodes.

import type { Pod } from '../../proto/api/types.js';
import type { CycleState } from './cycle-state.js';
import {
  ALL_CLUSTER_EVENTS,
  MAX_NODE_SCORE,
  MIN_NODE_SCORE,
  isBind,
  isFilter,
  isPermit,
  isPostFilter,
  isPreFilter,
  isPreScore,
  isReserve,
  isScore,
  type BindPlugin,
  type BindRequest,
  type ClusterEvent,
  type FilterPlugin,
  type PermitPlugin,
  type Plugin,
  type PostFilterPlugin,
  type PreFilterPlugin,
  type PreScorePlugin,
  type ReservePlugin,
  type ScorePlugin,
  type SnapshotView,
} from './interfaces.js';
import type { NodeInfo } from './node-info.js';
import { SCHEDULER_POD_FIELDS } from './pod-fields.js';
import { resolvePlugins, type ResolveOptions } from './registry.js';
import { DEFAULT_PROFILE, readProfileFile, type ProfileConfig } from './profile.js';
import { Code, SUCCESS, errorStatus, withPlugin, type Status } from './status.js';

interface WeightedScorePlugin {
  readonly plugin: ScorePlugin;
  readonly weight: number;
}

export class Framework {
  readonly schedulerName: string;
  readonly percentageOfNodesToScore: number;
  readonly preFilterPlugins: readonly PreFilterPlugin[];
  readonly filterPlugins: readonly FilterPlugin[];
  readonly postFilterPlugins: readonly PostFilterPlugin[];
  readonly preScorePlugins: readonly PreScorePlugin[];
  readonly scorePlugins: readonly WeightedScorePlugin[];
  readonly reservePlugins: readonly ReservePlugin[];
  readonly permitPlugins: readonly PermitPlugin[];
  readonly bindPlugins: readonly BindPlugin[];
  /**
   * The pod fields the plugins read (SCHEDULER_POD_FIELDS plus what custom plugins declare), or
   * undefined when a plugin that is not built in declares none: it is given whole pods.
   */
  readonly podFields: readonly string[] | undefined;
  private readonly events = new Map<string, ReadonlySet<ClusterEvent>>();
  private scratch = new Float64Array(0);

  constructor(
    config: Pick<ProfileConfig, 'schedulerName' | 'percentageOfNodesToScore'>,
    enabled: readonly { plugin: Plugin; weight: number; points: ReadonlySet<string>; builtIn?: boolean }[],
  ) {
    this.schedulerName = config.schedulerName;
    this.percentageOfNodesToScore = config.percentageOfNodesToScore;
    const at = <T extends Plugin>(point: string, guard: (p: Plugin) => p is T): T[] =>
      enabled.filter((e) => e.points.has(point) && guard(e.plugin)).map((e) => e.plugin as T);
    this.preFilterPlugins = at('preFilter', isPreFilter);
    this.filterPlugins = at('filter', isFilter);
    this.postFilterPlugins = at('postFilter', isPostFilter);
    this.preScorePlugins = at('preScore', isPreScore);
    this.scorePlugins = enabled.filter((e) => e.points.has('score') && isScore(e.plugin)).map((e) => ({ plugin: e.plugin as ScorePlugin, weight: e.weight }));
    this.reservePlugins = at('reserve', isReserve);
    this.permitPlugins = at('permit', isPermit);
    this.bindPlugins = at('bind', isBind);
    for (const e of enabled) this.events.set(e.plugin.name, new Set(e.plugin.eventsToRegister?.() ?? ALL_CLUSTER_EVENTS));
    const undeclared = enabled.some((e) => e.builtIn !== true && e.plugin.podFields === undefined);
    this.podFields = undeclared ? undefined : [...new Set([...SCHEDULER_POD_FIELDS, ...enabled.flatMap((e) => e.plugin.podFields ?? [])])];
  }

  /** The built-in default profile, or the profile in `path` (JSON or YAML). */
  static async load(path: string | undefined, opts: Omit<ResolveOptions, 'source'> = {}): Promise<Framework> {
    const config = path === undefined ? DEFAULT_PROFILE : await readProfileFile(path);
    return Framework.fromConfig(config, { ...opts, source: path ?? '<default profile>' });
  }

  static async fromConfig(config: ProfileConfig, opts: ResolveOptions): Promise<Framework> {
    return new Framework(config, await resolvePlugins(config, opts));
  }

  /** Whether `event` could make a pod that `plugin` rejected fit. */
  isInterested(plugin: string, event: ClusterEvent): boolean {
    return this.events.get(plugin)?.has(event) ?? true;
  }

  /** The first rejection or error; Skip marks the plugin's Filter as skipped for this cycle. */
  runPreFilter(state: CycleState, pod: Pod, snapshot: SnapshotView): Status {
    for (const p of this.preFilterPlugins) {
      const s = p.preFilter(state, pod, snapshot);
      if (s.code === Code.Success) continue;
      if (s.code === Code.Skip) {
        state.skipFilter.add(p.name);
        continue;
      }
      return withPlugin(s, p.name);
    }
    return SUCCESS;
  }

  /** The filter plugins this cycle runs: those whose PreFilter did not Skip. Compute once per cycle. */
  activeFilters(state: CycleState): readonly FilterPlugin[] {
    const skip = state.skipFilter;
    return skip.size === 0 ? this.filterPlugins : this.filterPlugins.filter((p) => !skip.has(p.name));
  }

  /** Success, or the first plugin's rejection (with the plugin's name on it). */
  runFilter(state: CycleState, pod: Pod, node: NodeInfo, plugins: readonly FilterPlugin[] = this.activeFilters(state)): Status {
    for (let i = 0; i < plugins.length; i++) {
      const p = plugins[i] as FilterPlugin;
      const s = p.filter(state, pod, node);
      if (s !== SUCCESS && s.code !== Code.Success) return s.plugin === p.name ? s : withPlugin(s, p.name);
    }
    return SUCCESS;
  }

  runPostFilter(state: CycleState, pod: Pod, rejections: ReadonlyMap<string, Status>): { status: Status; nominatedNodeName?: string } {
    for (const p of this.postFilterPlugins) {
      const r = p.postFilter(state, pod, rejections);
      if (r.status.code === Code.Success) return r;
    }
    return { status: { code: Code.Unschedulable, reasons: [] } };
  }

  runPreScore(state: CycleState, pod: Pod, nodes: readonly NodeInfo[]): Status {
    for (const p of this.preScorePlugins) {
      const s = p.preScore(state, pod, nodes);
      if (s.code === Code.Success) continue;
      if (s.code === Code.Skip) {
        state.skipScore.add(p.name);
        continue;
      }
      return withPlugin(s, p.name);
    }
    return SUCCESS;
  }

  /**
   * Fills totals[0..count) with Σ weight · normalized score over the score plugins, for nodes[i].
   * A score outside 0..100 after normalization is an Error, as in Kubernetes.
   */
  runScore(state: CycleState, pod: Pod, nodes: readonly NodeInfo[], count: number, totals: Float64Array): Status {
    totals.fill(0, 0, count);
    if (this.scratch.length < count) this.scratch = new Float64Array(Math.max(count, this.scratch.length * 2));
    const scores = this.scratch;
    for (const { plugin, weight } of this.scorePlugins) {
      if (state.skipScore.size > 0 && state.skipScore.has(plugin.name)) continue;
      if (plugin.scoreNodes !== undefined) {
        const s = plugin.scoreNodes(state, pod, nodes, count, scores);
        if (s.code !== Code.Success) return withPlugin(s, plugin.name);
      } else {
        for (let i = 0; i < count; i++) {
          const node = nodes[i];
          if (node === undefined) continue;
          const s = plugin.score(state, pod, node);
          if (typeof s !== 'number') return withPlugin(s, plugin.name);
          scores[i] = s;
        }
      }
      if (plugin.normalizeScore !== undefined) {
        const s = plugin.normalizeScore(state, pod, scores, count);
        if (s.code !== Code.Success) return withPlugin(s, plugin.name);
      }
      for (let i = 0; i < count; i++) {
        const s = scores[i] ?? 0;
        if (s < MIN_NODE_SCORE || s > MAX_NODE_SCORE) {
          return withPlugin(errorStatus(`plugin ${plugin.name} returns an invalid score ${s} for node ${nodes[i]?.name ?? ''}: it should be in [${MIN_NODE_SCORE}, ${MAX_NODE_SCORE}] after normalizing`), plugin.name);
        }
        totals[i] = (totals[i] ?? 0) + s * weight;
      }
    }
    return SUCCESS;
  }

  /** On a failure the plugins reserved so far are unreserved (in reverse), then the status returned. */
  runReserve(state: CycleState, pod: Pod, nodeName: string): Status {
    for (const p of this.reservePlugins) {
      const s = p.reserve(state, pod, nodeName);
      if (s.code !== Code.Success && s.code !== Code.Skip) {
        this.runUnreserve(state, pod, nodeName);
        return withPlugin(s, p.name);
      }
    }
    return SUCCESS;
  }

  runUnreserve(state: CycleState, pod: Pod, nodeName: string): void {
    for (let i = this.reservePlugins.length - 1; i >= 0; i--) this.reservePlugins[i]?.unreserve(state, pod, nodeName);
  }

  runPermit(state: CycleState, pod: Pod, nodeName: string): Status {
    for (const p of this.permitPlugins) {
      const s = p.permit(state, pod, nodeName);
      if (s.code !== Code.Success && s.code !== Code.Skip) return withPlugin(s, p.name);
    }
    return SUCCESS;
  }

  /** One Status per request; each request goes to the first bind plugin that does not Skip it. */
  async runBind(requests: readonly BindRequest[]): Promise<Status[]> {
    const results: Status[] = requests.map(() => errorStatus('no bind plugin bound the pod'));
    let pending = requests.map((_, i) => i);
    for (const p of this.bindPlugins) {
      if (pending.length === 0) break;
      let statuses: readonly Status[];
      try {
        statuses = await p.bind(pending.map((i) => requests[i]).filter((r): r is BindRequest => r !== undefined));
      } catch (err) {
        const s = withPlugin(errorStatus(`bind failed: ${(err as Error).message}`), p.name);
        for (const i of pending) results[i] = s;
        return results;
      }
      const next: number[] = [];
      pending.forEach((reqIndex, j) => {
        const s = statuses[j] ?? errorStatus(`${p.name} returned no status`);
        if (s.code === Code.Skip) next.push(reqIndex);
        else results[reqIndex] = withPlugin(s, p.name);
      });
      pending = next;
    }
    return results;
  }
}

