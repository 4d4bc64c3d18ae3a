import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cacheKey, canonicalJson, LruCache } from './llm-cache.ts';

describe('canonicalJson', () => {
  it.each([
    [{ b: 1, a: 2 }, '{"a":2,"b":1}'],
    [{ a: { d: [3, { z: 1, y: 2 }], c: null } }, '{"a":{"c":null,"d":[3,{"y":2,"z":1}]}}'],
    [{ a: undefined, b: 1 }, '{"b":1}'],
    [[undefined, 1], '[null,1]'],
    ['text', '"text"'],
    [Number.NaN, 'null'],
  ])('%j → %s', (value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });
});

describe('cacheKey', () => {
  const base = {
    projectId: 'p1',
    providerRef: 'prov',
    model: 'gpt-4o-mini',
    parameters: { temperature: 0, maxOutputTokens: 10 },
    messages: [{ role: 'user', content: 'hi' }],
    outputSchema: undefined,
  };

  it('is a sha256 hex digest, stable under key order', () => {
    const key = cacheKey(base);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(cacheKey({ ...base, parameters: { maxOutputTokens: 10, temperature: 0 } })).toBe(key);
  });

  it('is the sha256 of the canonical JSON text, so keys written before still hit (image data URLs and tools included)', () => {
    const input = {
      ...base,
      messages: [
        { role: 'system', content: 'Be "terse"\n' },
        {
          role: 'user',
          content: [
            { type: 'image', url: `data:image/png;base64,${'iVBORw0K'.repeat(40_000)}` },
            { type: 'text', text: 'Describe [image] — ünïcode', extra: undefined },
          ],
        },
      ],
      outputSchema: { type: 'object', properties: { b: { type: 'string' }, a: [1, null] } },
      tools: [{ name: 't', inputSchema: { type: 'object' } }, undefined],
      toolChoice: 'auto',
    };
    // The key's text written out, members in sorted order, as keys written before have it.
    const text = `{"messages":${canonicalJson(input.messages)},"model":"gpt-4o-mini","parameters":{"maxOutputTokens":10,"temperature":0},"project":"p1","provider":"prov","schema":${canonicalJson(input.outputSchema)},"toolChoice":"auto","tools":${canonicalJson(input.tools)},"v":1}`;
    expect(cacheKey(input)).toBe(createHash('sha256').update(text).digest('hex'));
    expect(cacheKey(base)).toBe(
      createHash('sha256')
        .update(
          '{"messages":[{"content":"hi","role":"user"}],"model":"gpt-4o-mini","parameters":{"maxOutputTokens":10,"temperature":0},"project":"p1","provider":"prov","schema":null,"v":1}',
        )
        .digest('hex'),
    );
  });

  it('hashes the same text when pieces of every size fall on either side of a batch', () => {
    // Pieces of 1 to ~40,000 characters: some gathered with others, some over a batch alone.
    const messages = Array.from({ length: 24 }, (_, index) => ({
      role: index % 2 ? 'assistant' : 'user',
      content: `${index}:${'x'.repeat(Math.floor(1.7 ** index))}`,
    }));
    const text = `{"messages":${canonicalJson(messages)},"model":"gpt-4o-mini","parameters":{"maxOutputTokens":10,"temperature":0},"project":"p1","provider":"prov","schema":null,"v":1}`;
    expect(cacheKey({ ...base, messages })).toBe(createHash('sha256').update(text).digest('hex'));
  });

  it.each([
    ['project', { projectId: 'p2' }],
    ['provider', { providerRef: 'other' }],
    ['model', { model: 'gpt-4o' }],
    ['parameters', { parameters: { temperature: 0.1, maxOutputTokens: 10 } }],
    ['messages', { messages: [{ role: 'user', content: 'hi ' }] }],
    ['schema', { outputSchema: { type: 'object' } }],
  ])('changes with the %s', (_name, change) => {
    expect(cacheKey({ ...base, ...change })).not.toBe(cacheKey(base));
  });
});

describe('LruCache', () => {
  it('evicts the least recently used entry', () => {
    const lru = new LruCache<number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    lru.get('a');
    lru.set('c', 3);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe(1);
    expect(lru.get('c')).toBe(3);
  });

  it('holds nothing with capacity 0', () => {
    const lru = new LruCache<number>(0);
    lru.set('a', 1);
    expect(lru.get('a')).toBeUndefined();
  });
});
