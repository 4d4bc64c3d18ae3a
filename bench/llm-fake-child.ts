// Starts tools/fake-llm in a child process, so a benchmark's client and "provider" do not share
// one event loop (as they would not in production).
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export interface FakeLlmProcess {
  url: string;
  close(): Promise<void>;
}

export async function spawnFakeLlm(apiKey: string): Promise<FakeLlmProcess> {
  const main = path.join(import.meta.dirname, '..', 'tools', 'fake-llm', 'main.ts');
  const child: ChildProcess = spawn(process.execPath, [main, '--port', '0', '--api-key', apiKey], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error('fake-llm did not start')), 15_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`fake-llm exited with ${code}`)));
  });
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
