// The JSON form of every kind: what users write in manifests and what the API serves. These mirror
// the messages in *.proto field by field (camelCase, or the field's json_name); proto/api/codec.ts
// converts between the two. Optional means "may be omitted", as in Kubernetes' omitempty.

import type { ApiObject, ObjectMeta } from './object.js';

/** Kubernetes' intstr.IntOrString: a port number or a port name, a count or a percentage ("25%"). */
export type IntOrString = number | string;

export type StringMap = Readonly<Record<string, string>>;

/** The kinds Flotilla serves, as const object and derived union. */
export const Kind = {
  Namespace: 'Namespace',
  Node: 'Node',
  Pod: 'Pod',
  ReplicaSet: 'ReplicaSet',
  Deployment: 'Deployment',
  Service: 'Service',
  Endpoints: 'Endpoints',
  ConfigMap: 'ConfigMap',
  Secret: 'Secret',
  Lease: 'Lease',
  Event: 'Event',
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export const ALL_KINDS: readonly Kind[] = Object.values(Kind);

export function isKind(name: string): name is Kind {
  return (ALL_KINDS as readonly string[]).includes(name);
}

// ---- shared ----

export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: LabelSelectorOperator;
  readonly values?: readonly string[];
}

export interface LabelSelector {
  readonly matchLabels?: StringMap;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

// ---- Namespace ----

export interface NamespaceSpec {
  readonly finalizers?: readonly string[];
}

export interface NamespaceStatus {
  readonly phase?: 'Active' | 'Terminating';
}

export interface Namespace extends ApiObject {
  readonly apiVersion: 'v1';
  readonly kind: 'Namespace';
  readonly spec?: NamespaceSpec;
  readonly status?: NamespaceStatus;
}

// ---- Node ----

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';

export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: TaintEffect;
  readonly timeAdded?: string;
}

export interface NodeSpec {
  readonly unschedulable?: boolean;
  readonly taints?: readonly Taint[];
  readonly podCIDR?: string;
  readonly providerID?: string;
}

export interface NodeCondition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason?: string;
  readonly message?: string;
  readonly lastHeartbeatTime?: string;
  readonly lastTransitionTime?: string;
}

export interface NodeAddress {
  readonly type: 'Hostname' | 'InternalIP' | 'ExternalIP' | 'InternalDNS' | 'ExternalDNS';
  readonly address: string;
}

export interface NodeSystemInfo {
  readonly machineID?: string;
  readonly systemUUID?: string;
  readonly bootID?: string;
  readonly kernelVersion?: string;
  readonly osImage?: string;
  readonly containerRuntimeVersion?: string;
  readonly kubeletVersion?: string;
  readonly operatingSystem?: string;
  readonly architecture?: string;
}

export interface NodeStatus {
  /** Resource name → quantity ("4", "8Gi"). */
  readonly capacity?: StringMap;
  readonly allocatable?: StringMap;
  readonly conditions?: readonly NodeCondition[];
  readonly addresses?: readonly NodeAddress[];
  readonly nodeInfo?: NodeSystemInfo;
}

export interface Node extends ApiObject {
  readonly apiVersion: 'v1';
  readonly kind: 'Node';
  readonly spec?: NodeSpec;
  readonly status?: NodeStatus;
}

// ---- Pod ----

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
}

export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  readonly protocol?: Protocol;
  readonly hostPort?: number;
}

export interface ResourceRequirements {
  readonly requests?: StringMap;
  readonly limits?: StringMap;
}

export interface ExecAction {
  readonly command?: readonly string[];
}

export interface TCPSocketAction {
  readonly port: IntOrString;
  readonly host?: string;
}

export interface HTTPGetAction {
  readonly path?: string;
  readonly port: IntOrString;
  readonly host?: string;
  readonly scheme?: 'HTTP' | 'HTTPS';
}

export interface Probe {
  readonly exec?: ExecAction;
  readonly tcpSocket?: TCPSocketAction;
  readonly httpGet?: HTTPGetAction;
  readonly initialDelaySeconds?: number;
  readonly periodSeconds?: number;
  readonly timeoutSeconds?: number;
  readonly successThreshold?: number;
  readonly failureThreshold?: number;
}

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export interface Container {
  readonly name: string;
  readonly image?: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly env?: readonly EnvVar[];
  readonly ports?: readonly ContainerPort[];
  readonly resources?: ResourceRequirements;
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly imagePullPolicy?: PullPolicy;
  readonly workingDir?: string;
}

export type NodeSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

export interface NodeSelectorRequirement {
  readonly key: string;
  readonly operator: NodeSelectorOperator;
  readonly values?: readonly string[];
}

export interface NodeSelectorTerm {
  readonly matchExpressions?: readonly NodeSelectorRequirement[];
  readonly matchFields?: readonly NodeSelectorRequirement[];
}

export interface NodeSelector {
  readonly nodeSelectorTerms: readonly NodeSelectorTerm[];
}

export interface PreferredSchedulingTerm {
  readonly weight: number;
  readonly preference: NodeSelectorTerm;
}

export interface NodeAffinity {
  readonly requiredDuringSchedulingIgnoredDuringExecution?: NodeSelector;
  readonly preferredDuringSchedulingIgnoredDuringExecution?: readonly PreferredSchedulingTerm[];
}

export interface PodAffinityTerm {
  readonly labelSelector?: LabelSelector;
  readonly topologyKey: string;
  readonly namespaces?: readonly string[];
}

export interface WeightedPodAffinityTerm {
  readonly weight: number;
  readonly podAffinityTerm: PodAffinityTerm;
}

export interface PodAffinity {
  readonly requiredDuringSchedulingIgnoredDuringExecution?: readonly PodAffinityTerm[];
  readonly preferredDuringSchedulingIgnoredDuringExecution?: readonly WeightedPodAffinityTerm[];
}

export type PodAntiAffinity = PodAffinity;

export interface Affinity {
  readonly nodeAffinity?: NodeAffinity;
  readonly podAffinity?: PodAffinity;
  readonly podAntiAffinity?: PodAntiAffinity;
}

export interface Toleration {
  readonly key?: string;
  readonly operator?: 'Exists' | 'Equal';
  readonly value?: string;
  readonly effect?: TaintEffect;
  readonly tolerationSeconds?: number;
}

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export interface PodSpec {
  readonly containers: readonly Container[];
  readonly initContainers?: readonly Container[];
  readonly restartPolicy?: RestartPolicy;
  readonly nodeSelector?: StringMap;
  readonly affinity?: Affinity;
  readonly tolerations?: readonly Toleration[];
  readonly nodeName?: string;
  readonly schedulerName?: string;
  readonly priority?: number;
  readonly terminationGracePeriodSeconds?: number;
  readonly hostname?: string;
  readonly serviceAccountName?: string;
  readonly activeDeadlineSeconds?: number;
}

export interface PodCondition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: string;
  readonly lastProbeTime?: string;
}

export interface ContainerState {
  readonly waiting?: { readonly reason?: string; readonly message?: string };
  readonly running?: { readonly startedAt?: string };
  readonly terminated?: {
    readonly exitCode: number;
    readonly signal?: number;
    readonly reason?: string;
    readonly message?: string;
    readonly startedAt?: string;
    readonly finishedAt?: string;
    readonly containerID?: string;
  };
}

export interface ContainerStatus {
  readonly name: string;
  readonly ready?: boolean;
  readonly restartCount?: number;
  readonly image?: string;
  readonly imageID?: string;
  readonly containerID?: string;
  readonly started?: boolean;
  readonly state?: ContainerState;
  readonly lastState?: ContainerState;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface PodStatus {
  readonly phase?: PodPhase;
  readonly conditions?: readonly PodCondition[];
  readonly hostIP?: string;
  readonly podIP?: string;
  readonly startTime?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly containerStatuses?: readonly ContainerStatus[];
  readonly initContainerStatuses?: readonly ContainerStatus[];
}

export interface Pod extends ApiObject {
  readonly apiVersion: 'v1';
  readonly kind: 'Pod';
  readonly spec?: PodSpec;
  readonly status?: PodStatus;
}

export interface PodTemplateSpec {
  readonly metadata?: ObjectMeta;
  readonly spec?: PodSpec;
}

// ---- ReplicaSet and Deployment ----

export interface ReplicaSetSpec {
  readonly replicas?: number;
  readonly selector?: LabelSelector;
  readonly template?: PodTemplateSpec;
  readonly minReadySeconds?: number;
}

export interface ReplicaSetCondition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly lastTransitionTime?: string;
  readonly reason?: string;
  readonly message?: string;
}

export interface ReplicaSetStatus {
  readonly replicas?: number;
  readonly readyReplicas?: number;
  readonly availableReplicas?: number;
  readonly fullyLabeledReplicas?: number;
  readonly observedGeneration?: number;
  readonly conditions?: readonly ReplicaSetCondition[];
}

export interface ReplicaSet extends ApiObject {
  readonly apiVersion: 'apps/v1';
  readonly kind: 'ReplicaSet';
  readonly spec?: ReplicaSetSpec;
  readonly status?: ReplicaSetStatus;
}

export interface RollingUpdateDeployment {
  readonly maxSurge?: IntOrString;
  readonly maxUnavailable?: IntOrString;
}

export interface DeploymentStrategy {
  readonly type?: 'RollingUpdate' | 'Recreate';
  readonly rollingUpdate?: RollingUpdateDeployment;
}

export interface DeploymentSpec {
  readonly replicas?: number;
  readonly selector?: LabelSelector;
  readonly template?: PodTemplateSpec;
  readonly strategy?: DeploymentStrategy;
  readonly minReadySeconds?: number;
  readonly revisionHistoryLimit?: number;
  readonly paused?: boolean;
  readonly progressDeadlineSeconds?: number;
}

export interface DeploymentCondition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly lastUpdateTime?: string;
  readonly lastTransitionTime?: string;
  readonly reason?: string;
  readonly message?: string;
}

export interface DeploymentStatus {
  readonly replicas?: number;
  readonly updatedReplicas?: number;
  readonly readyReplicas?: number;
  readonly availableReplicas?: number;
  readonly unavailableReplicas?: number;
  readonly observedGeneration?: number;
  readonly conditions?: readonly DeploymentCondition[];
}

export interface Deployment extends ApiObject {
  readonly apiVersion: 'apps/v1';
  readonly kind: 'Deployment';
  readonly spec?: DeploymentSpec;
  readonly status?: DeploymentStatus;
}

// ---- Service and Endpoints ----

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';

export interface ServicePort {
  readonly name?: string;
  readonly protocol?: Protocol;
  readonly port: number;
  readonly targetPort?: IntOrString;
  readonly nodePort?: number;
}

export interface ServiceSpec {
  readonly type?: ServiceType;
  readonly selector?: StringMap;
  readonly ports?: readonly ServicePort[];
  readonly clusterIP?: string;
  readonly sessionAffinity?: 'None' | 'ClientIP';
  readonly externalName?: string;
}

export interface ServiceStatus {
  readonly loadBalancer?: { readonly ingress?: readonly { readonly ip?: string; readonly hostname?: string }[] };
}

export interface Service extends ApiObject {
  readonly apiVersion: 'v1';
  readonly kind: 'Service';
  readonly spec?: ServiceSpec;
  readonly status?: ServiceStatus;
}

export interface ObjectReference {
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly uid?: string;
  readonly apiVersion?: string;
  readonly resourceVersion?: string;
  readonly fieldPath?: string;
}

export interface EndpointAddress {
  readonly ip: string;
  readonly hostname?: string;
  readonly nodeName?: string;
  readonly targetRef?: ObjectReference;
}

export interface EndpointPort {
  readonly name?: string;
  readonly port: number;
  readonly protocol?: Protocol;
}

export interface EndpointSubset {
  readonly addresses?: readonly EndpointAddress[];
  readonly notReadyAddresses?: readonly EndpointAddress[];
  readonly ports?: readonly EndpointPort[];
}

export interface Endpoints extends ApiObject {
  readonly apiVersion: 'v1';
  readonly kind: 'Endpoints';
  readonly subsets?: readonly EndpointSubset[];
}

// ---- ConfigMap and Secret ----

export interface ConfigMap extends ApiObject {
  readonly apiVersion: 'v1';
  readonly kind: 'ConfigMap';
  readonly data?: StringMap;
  /** Key → base64 of the bytes. */
  readonly binaryData?: StringMap;
  readonly immutable?: boolean;
}

export interface Secret extends ApiObject {
  readonly apiVersion: 'v1';
  readonly kind: 'Secret';
  /** "Opaque" by default; "kubernetes.io/tls", ... */
  readonly type?: string;
  /** Key → base64 of the bytes. */
  readonly data?: StringMap;
  /** Write-only: fromJson folds it into data (base64-encoding each value), so no stored object has it. */
  readonly stringData?: StringMap;
  readonly immutable?: boolean;
}

// ---- Lease ----

export interface LeaseSpec {
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds?: number;
  readonly acquireTime?: string;
  readonly renewTime?: string;
  readonly leaseTransitions?: number;
}

export interface Lease extends ApiObject {
  readonly apiVersion: 'coordination.k8s.io/v1';
  readonly kind: 'Lease';
  readonly spec?: LeaseSpec;
}

// ---- Event ----

export interface Event extends ApiObject {
  readonly apiVersion: 'v1';
  readonly kind: 'Event';
  readonly involvedObject: ObjectReference;
  readonly reason?: string;
  readonly message?: string;
  readonly type?: 'Normal' | 'Warning';
  readonly count?: number;
  readonly firstTimestamp?: string;
  readonly lastTimestamp?: string;
  readonly source?: { readonly component?: string; readonly host?: string };
  readonly reportingComponent?: string;
  readonly reportingInstance?: string;
  readonly action?: string;
}

export type AnyObject =
  | Namespace
  | Node
  | Pod
  | ReplicaSet
  | Deployment
  | Service
  | Endpoints
  | ConfigMap
  | Secret
  | Lease
  | Event;

/** The apiVersion each kind is served at (group/version, or "v1" for the core group). */
export const API_VERSION_OF_KIND: Readonly<Record<Kind, AnyObject['apiVersion']>> = {
  Namespace: 'v1',
  Node: 'v1',
  Pod: 'v1',
  ReplicaSet: 'apps/v1',
  Deployment: 'apps/v1',
  Service: 'v1',
  Endpoints: 'v1',
  ConfigMap: 'v1',
  Secret: 'v1',
  Lease: 'coordination.k8s.io/v1',
  Event: 'v1',
};
