// Memory of a benchmark's child process (Linux): the current RSS, the peak, and a reset of the
// peak so it covers one piece of work alone (`/proc/self/clear_refs`, Linux ≥ 4.0).
import { readFileSync, writeFileSync } from 'node:fs';

export const rssMiB = () =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;

/** The process's peak RSS (getrusage's ru_maxrss, which follows the reset below). */
export const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;

/**
 * The peak RSS as the kernel keeps it for this process (VmHWM), which the reset below sets to
 * the current RSS. getrusage's maxRSS can stay at an earlier peak: the kernel also folds the
 * high-water mark into it whenever a thread exits, and a reset does not touch that copy.
 */
export const highWaterRssMiB = () =>
  Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;

/** Sets the peak to the current RSS; false where the kernel does not allow it. */
export function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
