import { Command } from 'commander';
import { vi } from 'vitest';

/**
 * Runs `braincells <args>` with the commands `register` adds, capturing stdout; a failure is
 * returned (commander's exit, a CliError), not thrown, so a test can assert on either.
 */
export async function runCommands(
  register: (program: Command) => void,
  args: string[],
): Promise<{ out: string; error: unknown }> {
  const program = new Command('braincells').exitOverride();
  register(program);
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    chunks.push(String(chunk));
    return true;
  });
  let error: unknown;
  try {
    await program.parseAsync(['node', 'braincells', ...args]);
  } catch (caught) {
    error = caught;
  } finally {
    spy.mockRestore();
  }
  return { out: chunks.join(''), error };
}
