import { describe, expect, it } from 'vitest';
import { LogCapture } from '../../test/test-platform.ts';
import { createLogger } from './logger.ts';

describe('logger redaction', () => {
  it('blanks secrets and, by default, prompt text', () => {
    const capture = new LogCapture();
    const logger = createLogger({ level: 'info', format: 'json', destination: capture });
    logger.info(
      {
        req: {
          headers: { authorization: 'Bearer bc_secret', cookie: 'sid=abc', 'x-api-key': 'k-1' },
        },
        body: { password: 'hunter2hunter2', apiKey: 'sk-live-123', prompt: 'my private prompt' },
      },
      'hello',
    );
    const text = capture.text();
    for (const secret of [
      'bc_secret',
      'sid=abc',
      'k-1',
      'hunter2hunter2',
      'sk-live-123',
      'my private prompt',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
  });

  it('keeps prompt text when prompt logging is on, secrets still blank', () => {
    const capture = new LogCapture();
    const logger = createLogger({
      level: 'info',
      format: 'json',
      destination: capture,
      logPrompts: true,
    });
    logger.info({ call: { prompt: 'visible prompt', apiKey: 'sk-hidden' } }, 'call');
    expect(capture.text()).toContain('visible prompt');
    expect(capture.text()).not.toContain('sk-hidden');
  });
});
