import { SAMPLE_DOCUMENTS, type SampleFact } from './document-samples.ts';

/**
 * What a model that reads well answers to an extraction prompt over a sample document: the
 * facts on the pages it was shown (a page chunk `part i/n (page a-b of …)` sees only its pages).
 * One quote a reviewer must catch is planted: the Globex currency is not what its page says.
 * Tests teach `tools/fake-llm` this answer (`fake.answerWhen(/^Document "/, sampleAnswer)`).
 */
export function sampleAnswer(prompt: string): string {
  const name = /Document "([^"]+)"/.exec(prompt)?.[1];
  const sample = SAMPLE_DOCUMENTS.find((candidate) => candidate.name === name);
  if (!sample) return '{}';
  const range = /part \d+\/\d+ \(page (\d+)(?:-(\d+))? of/.exec(prompt);
  const [from, to] = range ? [Number(range[1]), Number(range[2] ?? range[1])] : [1, 99];
  const facts: Record<string, SampleFact> = { ...sample.facts };
  if (sample.name === 'invoice-globex-2001.html')
    facts.currency = { value: 'USD', page: 1, quote: 'Currency: EUR' };
  const answer: Record<string, unknown> = {};
  for (const [field, fact] of Object.entries(facts))
    answer[field] =
      fact.page >= from && fact.page <= to ? fact : { value: null, page: 1, quote: '' };
  return JSON.stringify(answer);
}
