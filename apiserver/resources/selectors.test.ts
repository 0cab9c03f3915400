import { describe, expect, it } from 'vitest';
import {
  EVERYTHING,
  NOTHING,
  SelectorParseError,
  UnsupportedFieldError,
  labelSelectorMatcher,
  nodeSelectorMatches,
  nodeSelectorTermMatches,
  parseFieldSelector,
  parseLabelSelector,
  validateLabelSelector,
  validateNodeSelectorRequirement,
} from './selectors.js';

const web = { app: 'web', tier: 'front', env: 'prod' };
const db = { app: 'db', tier: 'back' };

describe('label selector syntax', () => {
  it.each([
    ['', true, true],
    ['app=web', true, false],
    ['app==web', true, false],
    ['app!=web', false, true],
    ['app in (web,db)', true, true],
    ['app in (web, api)', true, false],
    ['app notin (web)', false, true],
    ['env', true, false],
    ['!env', false, true],
    ['app=web,tier=front', true, false],
    ['app=web, tier=back', false, false],
    ['  tier in (front,back) , !missing ', true, true],
    ['missing!=x', true, true],
    ['env=', false, false],
  ])('%j matches web: %s, db: %s', (selector, matchesWeb, matchesDb) => {
    const matcher = parseLabelSelector(selector);
    expect(matcher.matches(web)).toBe(matchesWeb);
    expect(matcher.matches(db)).toBe(matchesDb);
  });

  it('`a=` selects the empty value', () => {
    expect(parseLabelSelector('a=').matches({ a: '' })).toBe(true);
    expect(parseLabelSelector('a in ()').matches({ a: '' })).toBe(true);
  });

  it('matches undefined labels like empty labels', () => {
    expect(parseLabelSelector('!a').matches(undefined)).toBe(true);
    expect(parseLabelSelector('a').matches(undefined)).toBe(false);
  });

  it.each([
    ['app=web,', /position 8: expected a label key, found the end/],
    [',app', /position 0: expected a label key, found ","/],
    ['app in web', /expected "\(", found "web"/],
    ['app in (web', /expected "," or "\)", found the end/],
    ['app = web = x', /expected "," or the end, found "="/],
    ['app web', /expected "=", "==", "!=", "in", "notin", "," or the end, found "web"/],
    ['Bad Key=x', /expected "=", "==", "!=", "in", "notin", "," or the end, found "Key"/],
    ['-bad=x', /invalid label key "-bad"/],
    ['a=b c', /found "c"/],
    ['a=-x', /invalid label value "-x"/],
    ['!', /expected a label key, found the end/],
    ['a!', /found "!"/],
  ])('rejects %j', (selector, message) => {
    expect(() => parseLabelSelector(selector)).toThrow(SelectorParseError);
    expect(() => parseLabelSelector(selector)).toThrow(message);
  });

  it('requiredEquals lists the labels pinned to one value', () => {
    const pinned = parseLabelSelector('app=web,tier in (front),env in (a,b),x!=y,z').requiredEquals();
    expect([...pinned]).toEqual([
      ['app', 'web'],
      ['tier', 'front'],
    ]);
  });

  it('prints back in the syntax', () => {
    expect(parseLabelSelector('app==web, x in (a,b), !y, z, w!=v').toString()).toBe('app=web,x in (a,b),!y,z,w!=v');
    expect(EVERYTHING.toString()).toBe('');
  });
});

describe('LabelSelector message', () => {
  it('a missing selector matches nothing, an empty one everything', () => {
    expect(labelSelectorMatcher(undefined)).toBe(NOTHING);
    expect(labelSelectorMatcher(undefined).matches(web)).toBe(false);
    expect(labelSelectorMatcher({}).matches(web)).toBe(true);
    expect(labelSelectorMatcher({}).matchesAnything).toBe(true);
  });

  it('matchLabels and matchExpressions are ANDed', () => {
    const m = labelSelectorMatcher({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'dev'] }, { key: 'legacy', operator: 'DoesNotExist' }] });
    expect(m.matches(web)).toBe(true);
    expect(m.matches({ ...web, legacy: 'true' })).toBe(false);
    expect(m.matches({ ...web, env: 'qa' })).toBe(false);
    expect([...m.requiredEquals()]).toEqual([['app', 'web']]);
  });

  it('equals the same selector written as a string', () => {
    const fromMessage = labelSelectorMatcher({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['back'] }, { key: 'env', operator: 'Exists' }] });
    const fromString = parseLabelSelector('app=web,tier notin (back),env');
    for (const labels of <Record<string, string>[]>[web, db, {}, { app: 'web' }, { app: 'web', env: '' }]) expect(fromMessage.matches(labels)).toBe(fromString.matches(labels));
  });

  it('validation reports operator/values mismatches and bad keys with paths', () => {
    expect(
      validateLabelSelector(
        { matchLabels: { 'bad key': 'v', ok: 'bad value' }, matchExpressions: [{ key: 'a', operator: 'In' }, { key: 'b', operator: 'Exists', values: ['x'] }] },
        'spec.selector',
      ).map((v) => v.field),
    ).toEqual(['spec.selector.matchLabels', 'spec.selector.matchLabels[ok]', 'spec.selector.matchExpressions[0].values', 'spec.selector.matchExpressions[1].values']);
    expect(validateLabelSelector({ matchLabels: { app: 'web' } }, 's')).toEqual([]);
  });
});

describe('field selectors', () => {
  const fields = { 'metadata.name': 'web-0', 'spec.nodeName': 'n1', 'status.phase': 'Running' };
  const supported = Object.keys(fields);

  it('matches =, == and !=, comma-joined', () => {
    expect(parseFieldSelector('spec.nodeName=n1', supported).matches(fields)).toBe(true);
    expect(parseFieldSelector('spec.nodeName==n2', supported).matches(fields)).toBe(false);
    expect(parseFieldSelector('status.phase!=Failed,spec.nodeName=n1', supported).matches(fields)).toBe(true);
    expect(parseFieldSelector('', supported).matches(fields)).toBe(true);
  });

  it('an absent field compares as the empty string (spec.nodeName= selects unscheduled pods)', () => {
    expect(parseFieldSelector('spec.nodeName=').matches({})).toBe(true);
    expect(parseFieldSelector('spec.nodeName!=').matches(fields)).toBe(true);
  });

  it('honours backslash escapes in values', () => {
    expect(parseFieldSelector('metadata.name=a\\,b').matches({ 'metadata.name': 'a,b' })).toBe(true);
    expect(parseFieldSelector('metadata.name=a\\=b').requirements).toEqual([{ field: 'metadata.name', operator: '=', value: 'a=b' }]);
  });

  it('names an unsupported field and the kind', () => {
    expect(() => parseFieldSelector('spec.hostname=x', supported, 'Pod')).toThrow(UnsupportedFieldError);
    expect(() => parseFieldSelector('spec.hostname=x', supported, 'Pod')).toThrow(/field label not supported for Pod: spec.hostname/);
  });

  it('rejects malformed requirements', () => {
    expect(() => parseFieldSelector('spec.nodeName')).toThrow(SelectorParseError);
    expect(() => parseFieldSelector('=x')).toThrow(SelectorParseError);
    expect(() => parseFieldSelector('a=b,,c=d')).toThrow(/found ""/);
  });

  it('requiredEquals', () => {
    expect([...parseFieldSelector('spec.nodeName=n1,status.phase!=Failed').requiredEquals()]).toEqual([['spec.nodeName', 'n1']]);
  });
});

describe('node selector terms', () => {
  const node = { zone: 'a', gpu: 'true', cores: '16', 'kubernetes.io/hostname': 'n1' };
  const fields = { 'metadata.name': 'n1' };

  it.each([
    [{ key: 'zone', operator: 'In', values: ['a', 'b'] }, true],
    [{ key: 'zone', operator: 'NotIn', values: ['a'] }, false],
    [{ key: 'missing', operator: 'NotIn', values: ['a'] }, true],
    [{ key: 'gpu', operator: 'Exists' }, true],
    [{ key: 'gpu', operator: 'DoesNotExist' }, false],
    [{ key: 'cores', operator: 'Gt', values: ['8'] }, true],
    [{ key: 'cores', operator: 'Gt', values: ['16'] }, false],
    [{ key: 'cores', operator: 'Lt', values: ['32'] }, true],
    [{ key: 'zone', operator: 'Gt', values: ['1'] }, false],
    [{ key: 'missing', operator: 'Lt', values: ['1'] }, false],
    [{ key: 'cores', operator: 'Gt', values: ['x'] }, false],
  ] as const)('%j → %s', (requirement, expected) => {
    expect(nodeSelectorTermMatches({ matchExpressions: [requirement] }, node, fields)).toBe(expected);
  });

  it('requirements within a term are ANDed, terms are ORed', () => {
    const inZoneB = { matchExpressions: [{ key: 'zone', operator: 'In' as const, values: ['b'] }] };
    const gpuInA = { matchExpressions: [{ key: 'zone', operator: 'In' as const, values: ['a'] }, { key: 'gpu', operator: 'Exists' as const }] };
    expect(nodeSelectorMatches({ nodeSelectorTerms: [inZoneB] }, node)).toBe(false);
    expect(nodeSelectorMatches({ nodeSelectorTerms: [inZoneB, gpuInA] }, node)).toBe(true);
    expect(nodeSelectorMatches({ nodeSelectorTerms: [] }, node)).toBe(false);
  });

  it('an empty term matches no node', () => {
    expect(nodeSelectorTermMatches({}, node)).toBe(false);
  });

  it('matchFields matches the node name', () => {
    expect(nodeSelectorTermMatches({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }, node, fields)).toBe(true);
    expect(nodeSelectorTermMatches({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n2'] }] }, node, fields)).toBe(false);
  });

  it('validation', () => {
    expect(validateNodeSelectorRequirement({ key: 'cores', operator: 'Gt', values: ['1', '2'] }, 'r')).toHaveLength(1);
    expect(validateNodeSelectorRequirement({ key: 'cores', operator: 'Lt', values: ['4'] }, 'r')).toEqual([]);
    expect(validateNodeSelectorRequirement({ key: 'zone', operator: 'In' }, 'r')[0]?.field).toBe('r.values');
  });
});
