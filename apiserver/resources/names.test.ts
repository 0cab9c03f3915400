import { describe, expect, it } from 'vitest';
import {
  ANNOTATIONS_MAX_TOTAL_BYTES,
  DNS1123_LABEL_MESSAGE,
  DNS1123_SUBDOMAIN_MESSAGE,
  GENERATED_NAME_ALPHABET,
  dns1123LabelProblems,
  dns1123SubdomainProblems,
  generateName,
  labelValueProblems,
  qualifiedNameProblems,
  validateAnnotations,
  validateLabels,
} from './names.js';

describe('DNS-1123 subdomain', () => {
  it.each(['a', 'web', 'web-0', 'a.b.c', '0abc', 'x'.repeat(253), 'my.app-1'])('accepts %j', (name) => {
    expect(dns1123SubdomainProblems(name)).toEqual([]);
  });
  it.each(['', 'Web', '-a', 'a-', 'a_b', 'a..b', '.a', 'a.', 'a b', 'é'])('rejects %j with the Kubernetes message', (name) => {
    expect(dns1123SubdomainProblems(name)).toEqual([DNS1123_SUBDOMAIN_MESSAGE]);
  });
  it('rejects more than 253 characters', () => {
    expect(dns1123SubdomainProblems('x'.repeat(254))).toEqual(['must be no more than 253 characters']);
  });
});

describe('DNS-1123 label', () => {
  it.each(['a', 'kube-system', 'x'.repeat(63)])('accepts %j', (name) => {
    expect(dns1123LabelProblems(name)).toEqual([]);
  });
  it.each(['a.b', 'A', '', '-x'])('rejects %j', (name) => {
    expect(dns1123LabelProblems(name)).toEqual([DNS1123_LABEL_MESSAGE]);
  });
  it('rejects more than 63 characters', () => {
    expect(dns1123LabelProblems('x'.repeat(64))).toEqual(['must be no more than 63 characters']);
  });
});

describe('label keys and values', () => {
  it.each(['app', 'App_1.x', 'app.kubernetes.io/name', 'example.com/My-Key', 'a'])('key %j is valid', (key) => {
    expect(qualifiedNameProblems(key)).toEqual([]);
  });
  it('reports each broken part', () => {
    expect(qualifiedNameProblems('')).toEqual(['name part must be non-empty']);
    expect(qualifiedNameProblems('/a')).toEqual(['prefix part must be non-empty']);
    expect(qualifiedNameProblems('Example.com/a')).toEqual([`prefix part ${DNS1123_SUBDOMAIN_MESSAGE}`]);
    expect(qualifiedNameProblems('a/')).toEqual(['name part must be non-empty']);
    expect(qualifiedNameProblems('-a')[0]).toMatch(/^name part must consist/);
    expect(qualifiedNameProblems('x'.repeat(64))).toEqual(['name part must be no more than 63 characters']);
    expect(qualifiedNameProblems('a/b/c')[0]).toMatch(/^a qualified name/);
  });
  it('values may be empty, at most 63 characters', () => {
    expect(labelValueProblems('')).toEqual([]);
    expect(labelValueProblems('v1.2_3-x')).toEqual([]);
    expect(labelValueProblems('x'.repeat(64))).toEqual(['must be no more than 63 characters']);
    expect(labelValueProblems('a b')[0]).toMatch(/^a valid label must be an empty string/);
    expect(labelValueProblems('-a')).toHaveLength(1);
  });
  it('validateLabels names the key in the path', () => {
    expect(validateLabels({ ok: 'yes', bad: 'a b', 'Bad/key': 'x' }, 'metadata.labels')).toEqual([
      { field: 'metadata.labels[bad]', description: expect.stringMatching(/^Invalid value: "a b": a valid label/) },
      { field: 'metadata.labels', description: expect.stringMatching(/^Invalid value: "Bad\/key": prefix part a lowercase RFC 1123 subdomain/) },
    ]);
  });
});

describe('annotations', () => {
  it('limits the total size to 256 KiB', () => {
    const half = 'x'.repeat(ANNOTATIONS_MAX_TOTAL_BYTES / 2);
    expect(validateAnnotations({ a: half.slice(1), b: half.slice(1) }, 'metadata.annotations')).toEqual([]);
    expect(validateAnnotations({ a: half, b: half }, 'metadata.annotations')).toEqual([
      { field: 'metadata.annotations', description: 'Too long: must have at most 262144 bytes' },
    ]);
  });
  it('counts bytes, not characters', () => {
    expect(validateAnnotations({ a: 'é'.repeat(ANNOTATIONS_MAX_TOTAL_BYTES / 2) }, 'm')).toHaveLength(1);
  });
  it('checks annotation keys', () => {
    expect(validateAnnotations({ 'a b': 'x' }, 'm')).toHaveLength(1);
  });
});

describe('generateName', () => {
  it('appends five characters from the random source', () => {
    let i = 0;
    const name = generateName('web-', () => (i++ * 0.2) % 1);
    expect(name).toMatch(/^web-[a-z0-9]{5}$/);
    expect(name).toBe(`web-${[0, 0.2, 0.4, 0.6, 0.8].map((r) => GENERATED_NAME_ALPHABET[Math.floor(r * 27)]).join('')}`);
  });
  it('is deterministic for a given source and stays in the alphabet at the edges', () => {
    expect(generateName('a-', () => 0)).toBe('a-bbbbb');
    expect(generateName('a-', () => 0.9999999)).toBe('a-99999');
  });
  it('truncates a long prefix so the name is a valid DNS label', () => {
    const name = generateName('x'.repeat(100), Math.random);
    expect(name).toHaveLength(63);
    expect(dns1123LabelProblems(name)).toEqual([]);
  });
});
