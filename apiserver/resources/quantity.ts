// Kubernetes resource quantities ("500m", "128Mi", "1e3"), held exactly as a bigint count of
// milli-units. Scheduling sums and compares them, so they must be exact: 0.1 + 0.2 CPUs is 300m,
// not 0.30000000000000004. A quantity finer than a milli-unit is rounded up, as Kubernetes does
// (MilliValue rounds up), so "0.0001" is 1m: a request is never understated.

export const MAX_QUANTITY_LENGTH = 64;
/** Kubernetes stores quantities in an int64 of units; anything beyond cannot be a real resource amount. */
export const MAX_QUANTITY_UNITS = 2n ** 63n - 1n;
/** Largest |exponent| accepted in "1e18" form: beyond it the value overflows or rounds to nothing. */
export const MAX_DECIMAL_EXPONENT = 18;

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

export interface Quantity {
  /** The amount in thousandths of the unit (1 CPU = 1000, 1 byte = 1000). */
  readonly milli: bigint;
  /** How the quantity was written; formatQuantity writes it back in the same family. */
  readonly format: QuantityFormat;
}

export class QuantityError extends Error {
  override readonly name = 'QuantityError';
  constructor(readonly input: string, reason: string) {
    super(`invalid quantity ${JSON.stringify(input)}: ${reason}`);
  }
}

const BINARY_SUFFIXES: Readonly<Record<string, bigint>> = { Ki: 1n, Mi: 2n, Gi: 3n, Ti: 4n, Pi: 5n, Ei: 6n };
const DECIMAL_SUFFIXES: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const QUANTITY_PATTERN = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?\d+))?$/;

/** Rounds away from zero, so a negative amount is rounded up in magnitude like a positive one. */
function divideRoundingUp(numerator: bigint, denominator: bigint): bigint {
  const quotient = numerator / denominator;
  return quotient * denominator === numerator ? quotient : quotient + (numerator < 0n ? -1n : 1n);
}

/**
 * Parsed quantities by text. A cluster writes the same few ("250m", "512Mi") in every pod, and
 * every create and update validates each of them: a hit skips the regular expression and the
 * bigint arithmetic. Bounded: emptied when it holds this many.
 */
export const MAX_PARSED_QUANTITIES = 4096;
const parsed = new Map<string, Quantity>();

/** How many parsed quantities are remembered now (for tests). */
export function parsedQuantityCount(): number {
  return parsed.size;
}

export function parseQuantity(text: string): Quantity {
  const known = parsed.get(text);
  if (known !== undefined) return known;
  const quantity = parseUncached(text);
  if (parsed.size >= MAX_PARSED_QUANTITIES) parsed.clear();
  parsed.set(text, quantity);
  return quantity;
}

function parseUncached(text: string): Quantity {
  if (text.length === 0) throw new QuantityError(text, 'empty');
  if (text.length > MAX_QUANTITY_LENGTH) throw new QuantityError(text, `longer than ${MAX_QUANTITY_LENGTH} characters`);
  const match = QUANTITY_PATTERN.exec(text);
  if (match === null) {
    throw new QuantityError(text, "must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (e.g. 500m, 2, 1.5, 128Mi, 1G, 1e3)");
  }
  const [, sign = '', number = '', suffix, exponentText] = match;
  const [whole = '', fraction = ''] = number.split('.');
  const mantissa = BigInt((whole || '0') + fraction) * (sign === '-' ? -1n : 1n);
  const fractionDigits = BigInt(fraction.length);

  let milli: bigint;
  let format: QuantityFormat;
  if (suffix !== undefined && suffix in BINARY_SUFFIXES) {
    format = 'BinarySI';
    const multiplier = 1024n ** (BINARY_SUFFIXES[suffix] ?? 0n);
    milli = divideRoundingUp(mantissa * multiplier * 1000n, 10n ** fractionDigits);
  } else {
    let exponent: number;
    if (exponentText !== undefined) {
      format = 'DecimalExponent';
      exponent = Number(exponentText);
      if (Math.abs(exponent) > MAX_DECIMAL_EXPONENT) throw new QuantityError(text, `exponent beyond ±${MAX_DECIMAL_EXPONENT}`);
    } else {
      format = 'DecimalSI';
      exponent = DECIMAL_SUFFIXES[suffix ?? ''] ?? 0;
    }
    const scale = BigInt(exponent) + 3n - fractionDigits;
    milli = scale >= 0n ? mantissa * 10n ** scale : divideRoundingUp(mantissa, 10n ** -scale);
  }
  const limit = MAX_QUANTITY_UNITS * 1000n;
  if (milli > limit || milli < -limit) throw new QuantityError(text, 'too large (beyond 2^63-1 units)');
  return { milli, format };
}

/** The error for a malformed quantity, or undefined when it parses; for validation. */
export function quantityProblem(text: string): QuantityError | undefined {
  try {
    parseQuantity(text);
    return undefined;
  } catch (err) {
    if (err instanceof QuantityError) return err;
    throw err;
  }
}

function toSafeNumber(value: bigint, text: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new QuantityError(text, 'too large to represent exactly as a number');
  }
  return Number(value);
}

/** CPU in millicores: "500m" → 500, "2" → 2000, "0.0001" → 1 (rounded up). */
export function cpuMillis(quantity: string): number {
  return toSafeNumber(parseQuantity(quantity).milli, quantity);
}

/** Memory (or any count) in whole units, rounded up: "1Gi" → 1073741824, "1500m" → 2. */
export function memoryBytes(quantity: string): number {
  return toSafeNumber(divideRoundingUp(parseQuantity(quantity).milli, 1000n), quantity);
}

/** Negative, zero, or positive as a is less than, equal to, or greater than b. */
export function compareQuantities(a: string, b: string): number {
  const difference = parseQuantity(a).milli - parseQuantity(b).milli;
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}

const DECIMAL_FORMAT_SUFFIXES: readonly (readonly [bigint, string])[] = [
  [10n ** 18n, 'E'],
  [10n ** 15n, 'P'],
  [10n ** 12n, 'T'],
  [10n ** 9n, 'G'],
  [10n ** 6n, 'M'],
  [10n ** 3n, 'k'],
];
const BINARY_FORMAT_SUFFIXES: readonly (readonly [bigint, string])[] = [
  [1024n ** 6n, 'Ei'],
  [1024n ** 5n, 'Pi'],
  [1024n ** 4n, 'Ti'],
  [1024n ** 3n, 'Gi'],
  [1024n ** 2n, 'Mi'],
  [1024n, 'Ki'],
];

/**
 * The canonical text of an amount, as Kubernetes writes it: the largest suffix that keeps it an
 * integer ("1536Mi", "1500m", "2k"); amounts with a fraction of a unit are written in milli-units.
 */
export function formatQuantity(milli: bigint, format: QuantityFormat = 'DecimalSI'): string {
  if (milli % 1000n !== 0n) return `${milli}m`;
  const units = milli / 1000n;
  if (units === 0n) return '0';
  if (format === 'DecimalExponent') {
    let mantissa = units;
    let exponent = 0;
    while (mantissa % 1000n === 0n) {
      mantissa /= 1000n;
      exponent += 3;
    }
    return exponent === 0 ? `${mantissa}` : `${mantissa}e${exponent}`;
  }
  const table = format === 'BinarySI' ? BINARY_FORMAT_SUFFIXES : DECIMAL_FORMAT_SUFFIXES;
  const magnitude = units < 0n ? -units : units;
  for (const [multiplier, suffix] of table) {
    if (magnitude >= multiplier && magnitude % multiplier === 0n) return `${units / multiplier}${suffix}`;
  }
  return `${units}`;
}
