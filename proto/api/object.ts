// The shape every API object shares (Kubernetes' TypeMeta + ObjectMeta). The in-memory form is the
// JSON form users write in manifests: camelCase fields, RFC 3339 timestamps, quantities as strings.
// The per-kind types (Pod, Node, ...) extend ApiObject; their .proto files define the stored and wire
// form, and proto/api/codec.ts converts between the two.

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
  readonly blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  readonly name?: string;
  readonly generateName?: string;
  /** Empty for cluster-scoped kinds (Namespace, Node). */
  readonly namespace?: string;
  /** Set by the server at create; immutable. */
  readonly uid?: string;
  /** The store's mod revision of this object, as a decimal string. Opaque to clients. */
  readonly resourceVersion?: string;
  /** Incremented by the server on every change to spec (not status, not metadata). */
  readonly generation?: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly OwnerReference[];
  readonly finalizers?: readonly string[];
  /** RFC 3339, set by the server at create. */
  readonly creationTimestamp?: string;
  /** RFC 3339, set by the server when a delete was asked for and finalizers or a grace period hold it. */
  readonly deletionTimestamp?: string;
  readonly deletionGracePeriodSeconds?: number;
}

export interface ApiObject {
  /** "v1", "apps/v1", "coordination.k8s.io/v1", ... */
  readonly apiVersion: string;
  /** "Pod", "Node", ... */
  readonly kind: string;
  readonly metadata: ObjectMeta;
}

/** One problem with one field of an object or request; `field` is a path such as spec.containers[0].image. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}
