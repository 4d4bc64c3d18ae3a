import { describe, expect, it } from 'vitest';
import {
  createRandomSource,
  type FaultOptions,
  failuresForAttempt,
  jitteredLatency,
  neutralFaults,
  parseFaults,
  retryAfterFor,
} from './fake-llm-faults.ts';

describe('parseFaults', () => {
  const cases: {
    name: string;
    model: string;
    headers?: Record<string, string>;
    defaults?: Partial<FaultOptions>;
    baseModel: string;
    expected: Partial<FaultOptions>;
  }[] = [
    { name: 'no controls', model: 'gpt-4o-mini', baseModel: 'gpt-4o-mini', expected: {} },
    {
      name: 'pacing from the model suffix',
      model: 'gpt-4o-mini@latency=200,jitter=100,tps=50',
      baseModel: 'gpt-4o-mini',
      expected: { latencyMs: 200, jitterMs: 100, tokensPerSecond: 50 },
    },
    {
      name: 'status with retry-after',
      model: 'claude-3-5-haiku@status=429,retry-after=2',
      baseModel: 'claude-3-5-haiku',
      expected: { status: 429, retryAfterSeconds: 2 },
    },
    {
      name: 'fail-times with a key',
      model: 'm@fail-times=2,key=job-7',
      baseModel: 'm',
      expected: { failTimes: 2, key: 'job-7' },
    },
    {
      name: 'bare flags',
      model: 'm@hang,json,no-usage',
      baseModel: 'm',
      expected: { hang: true, json: true, noUsage: true },
    },
    {
      name: 'flag turned off explicitly',
      model: 'm@json=false',
      defaults: { json: true },
      baseModel: 'm',
      expected: { json: false },
    },
    {
      name: 'stream faults',
      model: 'm@hang-after=3,disconnect-after=4,malformed-after=5,error-after=6',
      baseModel: 'm',
      expected: { hangAfter: 3, disconnectAfter: 4, malformedAfter: 5, errorAfter: 6 },
    },
    {
      name: 'usage details',
      model: 'm@cache-read=100,cache-write=20,reasoning=7',
      baseModel: 'm',
      expected: { cacheReadTokens: 100, cacheWriteTokens: 20, reasoningTokens: 7 },
    },
    {
      name: 'percent-decoded output keeps commas and equals signs',
      model: 'm@output=%7B%22a%22%3A1%2C%22b%22%3A2%7D',
      baseModel: 'm',
      expected: { output: '{"a":1,"b":2}' },
    },
    {
      name: 'an @ inside the output value stays in it',
      model: 'm@output=mail me@example.com',
      baseModel: 'm',
      expected: { output: 'mail me@example.com' },
    },
    {
      name: 'tps=0 means unpaced',
      model: 'm@tps=0',
      defaults: { tokensPerSecond: 10 },
      baseModel: 'm',
      expected: { tokensPerSecond: undefined },
    },
    {
      name: 'headers',
      model: 'gpt-4o',
      headers: {
        'x-fake-latency': '15',
        'x-fake-key': 'abc',
        'x-fake-hang': '',
        authorization: 'x',
      },
      baseModel: 'gpt-4o',
      expected: { latencyMs: 15, key: 'abc', hang: true },
    },
    {
      name: 'suffix beats header beats default',
      model: 'gpt-4o@latency=3',
      headers: { 'x-fake-latency': '2', 'x-fake-tps': '9' },
      defaults: { latencyMs: 1, tokensPerSecond: 5, jitterMs: 4 },
      baseModel: 'gpt-4o',
      expected: { latencyMs: 3, tokensPerSecond: 9, jitterMs: 4 },
    },
    {
      name: 'empty segments are ignored',
      model: 'm@,latency=5,',
      baseModel: 'm',
      expected: { latencyMs: 5 },
    },
    {
      name: 'hugging face model ids keep their slash and provider tag',
      model: 'meta-llama/Llama-3.1-8B-Instruct:novita@tps=20',
      baseModel: 'meta-llama/Llama-3.1-8B-Instruct:novita',
      expected: { tokensPerSecond: 20 },
    },
  ];

  it.each(cases)('$name', ({ model, headers, defaults, baseModel, expected }) => {
    const result = parseFaults({ model, headers: headers ?? {}, defaults });
    expect(result).toEqual({
      ok: true,
      baseModel,
      faults: { ...neutralFaults, ...defaults, ...expected },
    });
  });

  const invalid: {
    name: string;
    model: string;
    headers?: Record<string, string>;
    message: RegExp;
  }[] = [
    { name: 'unknown control', model: 'm@latnecy=5', message: /unknown control "latnecy"/ },
    { name: 'unknown header', model: 'm', headers: { 'x-fake-nope': '1' }, message: /x-fake-nope/ },
    { name: 'prototype key', model: 'm@constructor=1', message: /unknown control/ },
    {
      name: 'missing value',
      model: 'm@latency',
      message: /invalid value "" for control "latency"/,
    },
    { name: 'negative', model: 'm@latency=-5', message: /milliseconds/ },
    { name: 'not a number', model: 'm@tps=fast', message: /number/ },
    { name: 'fractional count', model: 'm@fail-times=1.5', message: /integer/ },
    { name: 'status below 400', model: 'm@status=200', message: /400–599/ },
    { name: 'status above 599', model: 'm@status=600', message: /400–599/ },
    { name: 'bad flag', model: 'm@hang=maybe', message: /true\/false/ },
  ];

  it.each(invalid)('rejects $name', ({ model, headers, message }) => {
    const result = parseFaults({ model, headers: headers ?? {} });
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.message).toMatch(message);
    expect(result.baseModel).toBe('m');
  });
});

describe('failuresForAttempt', () => {
  const failing = { ...neutralFaults, failTimes: 2, disconnectAfter: 3, latencyMs: 50 };

  it.each([
    { attempt: 1, disconnectAfter: 3 },
    { attempt: 2, disconnectAfter: 3 },
    { attempt: 3, disconnectAfter: undefined },
  ])('attempt $attempt of fail-times=2 → disconnectAfter $disconnectAfter', (row) => {
    const faults = failuresForAttempt(failing, row.attempt);
    expect(faults.disconnectAfter).toBe(row.disconnectAfter);
    expect(faults.latencyMs).toBe(50);
  });

  it('fails with 500 when fail-times has no failure control of its own', () => {
    const faults = { ...neutralFaults, failTimes: 1 };
    expect(failuresForAttempt(faults, 1).status).toBe(500);
    expect(failuresForAttempt(faults, 2).status).toBeUndefined();
  });

  it('leaves requests without fail-times untouched', () => {
    const faults = { ...neutralFaults, status: 503 };
    expect(failuresForAttempt(faults, 99)).toBe(faults);
  });
});

describe('retryAfterFor', () => {
  it.each([
    { status: 429, retryAfterSeconds: undefined, expected: 1 },
    { status: 429, retryAfterSeconds: 7, expected: 7 },
    { status: 503, retryAfterSeconds: undefined, expected: undefined },
    { status: 503, retryAfterSeconds: 3, expected: 3 },
  ])('$status with retry-after=$retryAfterSeconds → $expected', (row) => {
    const faults = { ...neutralFaults, retryAfterSeconds: row.retryAfterSeconds };
    expect(retryAfterFor(faults, row.status)).toBe(row.expected);
  });
});

describe('jitteredLatency', () => {
  it('stays within ± jitter and never goes below zero', () => {
    const random = createRandomSource('bounds');
    for (let index = 0; index < 500; index++) {
      const around = jitteredLatency({ ...neutralFaults, latencyMs: 100, jitterMs: 20 }, random);
      expect(around).toBeGreaterThanOrEqual(80);
      expect(around).toBeLessThanOrEqual(120);
      const floored = jitteredLatency({ ...neutralFaults, latencyMs: 5, jitterMs: 50 }, random);
      expect(floored).toBeGreaterThanOrEqual(0);
    }
  });

  it('is reproducible for a seed and differs between seeds', () => {
    const faults = { ...neutralFaults, latencyMs: 100, jitterMs: 50 };
    const sequence = (seed: string) => {
      const random = createRandomSource(seed);
      return Array.from({ length: 5 }, () => jitteredLatency(faults, random));
    };
    expect(sequence('a')).toEqual(sequence('a'));
    expect(sequence('a')).not.toEqual(sequence('b'));
  });

  it('is the plain latency without jitter', () => {
    expect(jitteredLatency({ ...neutralFaults, latencyMs: 42 }, () => 0.9)).toBe(42);
  });
});
