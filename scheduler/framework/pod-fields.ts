// The pod fields the scheduler reads: its queue, cache, built-in plugins, binder and failure
// reporter. The scheduler's pod informer decodes only these (proto/api/codec.ts projectedDecoder),
// so the pods of a big cluster cost its master far less memory and decoding, and its garbage
// collector far less copying, than whole pods: a Running pod's container statuses, and every
// container's image, command, env, ports and probes, are skipped.
//
// Adding a plugin that reads more? Add the field here (grep `pod.` under scheduler/ to check); a
// custom plugin declares its extra fields in Plugin.podFields, or is given whole pods.
// pod-fields.test.ts checks that each path exists and that the projection keeps them exactly.

export const SCHEDULER_POD_FIELDS: readonly string[] = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'metadata.resourceVersion',
  'metadata.labels',
  'metadata.deletionTimestamp',
  // What a pod requests (pod-resources.ts), per container.
  'spec.containers.name',
  'spec.containers.resources',
  'spec.initContainers.name',
  'spec.initContainers.resources',
  'spec.nodeSelector',
  'spec.affinity',
  'spec.tolerations',
  'spec.nodeName',
  'spec.schedulerName',
  'spec.priority',
  'status.phase',
  // Whole: the PodScheduled condition is written back as a merge patch of the list.
  'status.conditions',
];
