import { describe, expect, it } from 'vitest';
import {
  defaultModel,
  formatContextWindow,
  formatRate,
  isChatModel,
  modelDetails,
  modelOptionLabel,
} from './model-label.ts';

const unknown = {
  inputUsdPerMtok: null,
  outputUsdPerMtok: null,
  cacheReadUsdPerMtok: null,
  priceSource: null,
  tiered: false,
  contextWindow: null,
} as const;

describe('model labels', () => {
  it('formats rates and context windows', () => {
    expect([0.15, 0.6, 0.075, 10, 2.5].map(formatRate)).toEqual([
      '$0.15',
      '$0.60',
      '$0.075',
      '$10.00',
      '$2.50',
    ]);
    expect(formatRate(null)).toBe('?');
    expect([128_000, 200_000, 1_048_576, 1_500_000, 512, null].map(formatContextWindow)).toEqual([
      '128K',
      '200K',
      '1M',
      '1.5M',
      '512',
      '—',
    ]);
  });

  it('labels an option with price per million tokens and context size', () => {
    expect(
      modelOptionLabel({
        id: 'gpt-4o-mini',
        inputUsdPerMtok: 0.15,
        outputUsdPerMtok: 0.6,
        cacheReadUsdPerMtok: 0.075,
        priceSource: 'catalog',
        tiered: false,
        contextWindow: 128_000,
      }),
    ).toBe('gpt-4o-mini — $0.15 / $0.60 per 1M tokens · 128K context');
    expect(
      modelOptionLabel({
        id: 'claude-sonnet-4-5',
        inputUsdPerMtok: 3,
        outputUsdPerMtok: 15,
        cacheReadUsdPerMtok: 0.3,
        priceSource: 'catalog',
        tiered: true,
        contextWindow: 200_000,
      }),
    ).toBe('claude-sonnet-4-5 — from $3.00 / $15.00 per 1M tokens · 200K context');
  });

  it('says unknown, never $0', () => {
    expect(modelOptionLabel({ id: 'local', ...unknown })).toBe(
      'local — price unknown · context unknown',
    );
    expect(modelDetails(unknown)).not.toContain('$0');
    expect(modelDetails(unknown)).toContain('Price unknown');
  });

  it('describes the cache-read rate and an override', () => {
    expect(
      modelDetails({
        inputUsdPerMtok: 3,
        outputUsdPerMtok: 12,
        cacheReadUsdPerMtok: 1.5,
        priceSource: 'override',
        tiered: false,
        contextWindow: 128_000,
      }),
    ).toBe(
      "Input $3.00, cached input $1.50, output $12.00 per 1M tokens, from this project's price override. Context window 128,000 tokens.",
    );
  });
});

describe('chat models and the default', () => {
  it('hides models that cannot chat', () => {
    for (const id of [
      'text-embedding-3-small',
      'whisper-1',
      'tts-1',
      'dall-e-3',
      'omni-moderation-latest',
      'gpt-4o-transcribe',
      'davinci-002',
    ])
      expect(isChatModel(id), id).toBe(false);
    for (const id of [
      'gpt-4o-mini',
      'claude-haiku-4-5-20251001',
      'meta-llama/Llama-3.1-8B-Instruct',
      'o4-mini',
    ])
      expect(isChatModel(id), id).toBe(true);
  });

  it('preselects a small chat model, else the first priced one, else the first', () => {
    const model = (id: string, price: number | null = null) => ({ id, inputUsdPerMtok: price });
    expect(
      defaultModel([
        model('text-embedding-3-small', 0.02),
        model('gpt-4o'),
        model('gpt-4o-mini', 0.15),
      ])?.id,
    ).toBe('gpt-4o-mini');
    expect(defaultModel([model('mystery-1'), model('priced-2', 1)])?.id).toBe('priced-2');
    expect(defaultModel([model('mystery-1'), model('mystery-2')])?.id).toBe('mystery-1');
    expect(defaultModel([model('text-embedding-3-small', 0.02)])).toBeUndefined();
  });
});
