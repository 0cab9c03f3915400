// A minimal ustar writer: enough for OCI image layers and layouts (regular files, directories,
// symlinks; names up to 255 bytes through the prefix field). Deterministic: fixed mtime, uid, gid.

export const TAR_BLOCK = 512;
/** ustar's size field holds 11 octal digits. */
export const MAX_TAR_ENTRY_BYTES = 8 ** 11 - 1;

export type TarEntry =
  | { readonly type: 'file'; readonly name: string; readonly body: Uint8Array; readonly mode?: number }
  | { readonly type: 'dir'; readonly name: string; readonly mode?: number }
  | { readonly type: 'symlink'; readonly name: string; readonly target: string };

export class TarEntryError extends Error {
  override readonly name = 'TarEntryError';
  constructor(readonly entryName: string, reason: string) {
    super(`tar entry ${JSON.stringify(entryName)}: ${reason}`);
  }
}

function writeString(header: Buffer, offset: number, length: number, value: string, entryName: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new TarEntryError(entryName, `field of ${length} bytes cannot hold ${JSON.stringify(value)}`);
  bytes.copy(header, offset);
}

function writeOctal(header: Buffer, offset: number, length: number, value: number, entryName: string): void {
  // length-1 digits, then NUL.
  writeString(header, offset, length, value.toString(8).padStart(length - 1, '0'), entryName);
}

/** Splits a long name into ustar's prefix (155) and name (100) at a slash. */
function splitName(name: string): { prefix: string; name: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100) return { prefix, name: rest };
  }
  throw new TarEntryError(name, 'longer than ustar allows (100 bytes, or 155 + 100 split at a slash)');
}

function header(entry: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(TAR_BLOCK);
  const fullName = entry.type === 'dir' && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
  const { prefix, name } = splitName(fullName);
  const mode = entry.type === 'symlink' ? 0o777 : (entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644));
  writeString(h, 0, 100, name, entry.name);
  writeOctal(h, 100, 8, mode, entry.name);
  writeOctal(h, 108, 8, 0, entry.name);
  writeOctal(h, 116, 8, 0, entry.name);
  writeOctal(h, 124, 12, size, entry.name);
  writeOctal(h, 136, 12, 0, entry.name);
  h.fill(' ', 148, 156); // the checksum is computed with its own field as spaces
  h.write(entry.type === 'file' ? '0' : entry.type === 'dir' ? '5' : '2', 156, 'latin1');
  if (entry.type === 'symlink') writeString(h, 157, 100, entry.target, entry.name);
  writeString(h, 257, 6, 'ustar\0', entry.name);
  writeString(h, 263, 2, '00', entry.name);
  writeString(h, 265, 32, 'root', entry.name);
  writeString(h, 297, 32, 'root', entry.name);
  writeString(h, 345, 155, prefix, entry.name);
  let sum = 0;
  for (const byte of h) sum += byte;
  writeString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `, entry.name);
  return h;
}

/** The whole archive, ending with the two zero blocks tar readers expect. */
export function writeTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const body = entry.type === 'file' ? entry.body : new Uint8Array(0);
    if (body.length > MAX_TAR_ENTRY_BYTES) throw new TarEntryError(entry.name, `${body.length} bytes is over ustar's ${MAX_TAR_ENTRY_BYTES}`);
    parts.push(header(entry, body.length));
    if (body.length > 0) {
      parts.push(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
      const pad = (TAR_BLOCK - (body.length % TAR_BLOCK)) % TAR_BLOCK;
      if (pad > 0) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(TAR_BLOCK * 2));
  return Buffer.concat(parts);
}
