import { describe, expect, it } from 'vitest';
import { MAX_PARSED_QUANTITIES, QuantityError, compareQuantities, cpuMillis, formatQuantity, memoryBytes, parseQuantity, parsedQuantityCount, quantityProblem } from './quantity.js';

describe('parseQuantity', () => {
  it.each([
    ['500m', 500n],
    ['2', 2000n],
    ['1.5', 1500n],
    ['0.1', 100n],
    ['.5', 500n],
    ['1.', 1000n],
    ['+3', 3000n],
    ['-1', -1000n],
    ['0', 0n],
    ['100k', 100_000_000n],
    ['1G', 1_000_000_000_000n],
    ['1e3', 1_000_000n],
    ['1E3', 1_000_000n],
    ['1e-3', 1n],
    ['128Mi', 128n * 1024n * 1024n * 1000n],
    ['1Gi', 1024n ** 3n * 1000n],
    ['1.5Gi', 1536n * 1024n * 1024n * 1000n],
    ['1Ki', 1_024_000n],
    ['1Ei', 1024n ** 6n * 1000n],
    ['1000000u', 1000n],
    ['5n', 1n],
  ])('%s is %d milli-units', (text, milli) => {
    expect(parseQuantity(text).milli).toBe(milli);
  });

  it('rounds precision finer than a milli-unit up, as Kubernetes does', () => {
    expect(parseQuantity('0.0001').milli).toBe(1n);
    expect(parseQuantity('1.0001').milli).toBe(1001n);
    expect(parseQuantity('1n').milli).toBe(1n);
    expect(parseQuantity('0.5m').milli).toBe(1n);
    expect(parseQuantity('1.0000').milli).toBe(1000n);
    expect(parseQuantity('-0.0001').milli).toBe(-1n);
  });

  it('records the format family', () => {
    expect(parseQuantity('1Gi').format).toBe('BinarySI');
    expect(parseQuantity('1G').format).toBe('DecimalSI');
    expect(parseQuantity('1e9').format).toBe('DecimalExponent');
  });

  it.each(['', 'abc', '1.2.3', '1 Gi', ' 1', '1gi', '1KI', '1K', 'Mi', '--1', '1e', '1Mi2', 'm', '.', '1e1.5', '0x10'])(
    'rejects %j',
    (text) => {
      expect(() => parseQuantity(text)).toThrow(QuantityError);
    },
  );

  it('rejects amounts beyond int64 units and absurd exponents', () => {
    expect(() => parseQuantity('9223372036854775808')).toThrow(/too large/);
    expect(parseQuantity('9223372036854775807').milli).toBe((2n ** 63n - 1n) * 1000n);
    expect(() => parseQuantity('1e19')).toThrow(/exponent/);
    expect(() => parseQuantity('8Ei')).toThrow(/too large/);
    expect(() => parseQuantity('1'.repeat(65))).toThrow(/longer than 64/);
  });

  it('remembers what it parsed, within its bound, and still refuses what it cannot parse', () => {
    expect(parseQuantity('250m')).toBe(parseQuantity('250m'));
    for (let i = 0; i < MAX_PARSED_QUANTITIES + 10; i++) {
      expect(parseQuantity(`${i}Mi`).milli).toBe(BigInt(i) * 1024n * 1024n * 1000n);
      expect(parsedQuantityCount()).toBeLessThanOrEqual(MAX_PARSED_QUANTITIES);
    }
    expect(() => parseQuantity('12x')).toThrow(QuantityError);
    expect(() => parseQuantity('12x')).toThrow(QuantityError);
  });

  it('names the input in the error', () => {
    const problem = quantityProblem('12 cores');
    expect(problem).toBeInstanceOf(QuantityError);
    expect(problem?.name).toBe('QuantityError');
    expect(problem?.message).toContain('"12 cores"');
    expect(quantityProblem('1')).toBeUndefined();
  });
});

describe('helpers', () => {
  it('cpuMillis', () => {
    expect(cpuMillis('250m')).toBe(250);
    expect(cpuMillis('2')).toBe(2000);
    expect(cpuMillis('0.5')).toBe(500);
  });

  it('memoryBytes rounds a fraction of a byte up', () => {
    expect(memoryBytes('1Gi')).toBe(1073741824);
    expect(memoryBytes('1G')).toBe(1e9);
    expect(memoryBytes('1500m')).toBe(2);
    expect(() => memoryBytes('1Ei')).toThrow(/exactly/);
  });

  it('compareQuantities across notations', () => {
    expect(compareQuantities('1Gi', '1G')).toBe(1);
    expect(compareQuantities('1000m', '1')).toBe(0);
    expect(compareQuantities('0.1', '200m')).toBe(-1);
    expect(compareQuantities('1e3', '1k')).toBe(0);
  });

  it('formatQuantity writes the canonical form', () => {
    expect(formatQuantity(1500n)).toBe('1500m');
    expect(formatQuantity(2000n)).toBe('2');
    expect(formatQuantity(0n)).toBe('0');
    expect(formatQuantity(2_000_000n)).toBe('2k');
    expect(formatQuantity(1_500_000n)).toBe('1500');
    expect(formatQuantity(parseQuantity('1.5Gi').milli, 'BinarySI')).toBe('1536Mi');
    expect(formatQuantity(parseQuantity('1Gi').milli, 'BinarySI')).toBe('1Gi');
    expect(formatQuantity(1000n * 1000n, 'BinarySI')).toBe('1000');
    expect(formatQuantity(parseQuantity('1e6').milli, 'DecimalExponent')).toBe('1e6');
    expect(formatQuantity(-2000n)).toBe('-2');
  });

  it('parse ∘ format is the identity on the amount', () => {
    for (const text of ['500m', '1.5Gi', '3', '1e3', '100k', '0.0001']) {
      const q = parseQuantity(text);
      expect(parseQuantity(formatQuantity(q.milli, q.format)).milli).toBe(q.milli);
    }
  });
});
