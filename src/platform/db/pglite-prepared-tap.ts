import type { PGlite } from '@electric-sql/pglite';

/**
 * Calls `onRun` with the SQL text each time a named prepared statement (`PREPARED`,
 * pglite-driver.ts) runs on `pglite`: such a statement is parsed once under a name and then
 * only bound, so `pglite.query` never sees it again. Reads the protocol messages the driver
 * sends — Parse: 'P', length, statement name, text; Bind: 'B', length, portal, statement name.
 * For statement counts in tests and benches; nothing in the server calls it.
 */
export function tapPreparedRuns(pglite: PGlite, onRun: (text: string) => void): void {
  const named = new Map<string, string>();
  const decoder = new TextDecoder();
  const cString = (message: Uint8Array, from: number) => {
    const end = message.indexOf(0, from);
    return { text: decoder.decode(message.subarray(from, end)), next: end + 1 };
  };
  const execProtocolStream = pglite.execProtocolStream.bind(pglite);
  pglite.execProtocolStream = ((message: Uint8Array, ...rest: unknown[]) => {
    if (message[0] === 0x50) {
      const name = cString(message, 5);
      if (name.text) named.set(name.text, cString(message, name.next).text);
    } else if (message[0] === 0x42) {
      const text = named.get(cString(message, cString(message, 5).next).text);
      if (text !== undefined) onRun(text);
    }
    return (execProtocolStream as (...args: unknown[]) => unknown)(message, ...rest);
  }) as PGlite['execProtocolStream'];
}
