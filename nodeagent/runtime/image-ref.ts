// Image references as containerd names them: "busybox" is docker.io/library/busybox:latest.

/** The full reference: registry host, repository path, and a tag (":latest") unless a digest. */
export function normalizeImageRef(image: string): string {
  let ref = image.trim();
  const slash = ref.indexOf('/');
  const first = slash === -1 ? '' : ref.slice(0, slash);
  const hasRegistry = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasRegistry) ref = `docker.io/${slash === -1 ? 'library/' : ''}${ref}`;
  const lastPart = ref.slice(ref.lastIndexOf('/') + 1);
  if (!lastPart.includes(':') && !lastPart.includes('@')) ref = `${ref}:latest`;
  return ref;
}

/** The archive file an image is imported from: the normalized reference with /, : and @ as _. */
export function imageArchiveFileName(image: string): string {
  return `${normalizeImageRef(image).replace(/[/:@]/g, '_')}.tar`;
}
