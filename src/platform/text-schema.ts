import { z } from 'zod';

/**
 * The text rules every input shares (docs: "Validation" in /work/shared/DESIGN.md): what a user
 * types is visible text, and a name is trimmed, not empty, and at most 200 characters.
 */
export const NO_CONTROL = /^[^\p{Cc}]*$/u;
/** Visible text in which line breaks and tabs are allowed (descriptions, prompts). */
export const NO_CONTROL_EXCEPT_NEWLINES = /^(?:[^\p{Cc}]|[\n\r\t])*$/u;
const CONTROL_MESSAGE = 'must not contain control characters';

/** Trimmed visible text of at most `max` characters (it may be empty). */
export function visibleText(max: number) {
  return z.string().trim().max(max).regex(NO_CONTROL, CONTROL_MESSAGE);
}

/** A name (project, thread, key): trimmed, 1 to `max` characters, no control characters. */
export function nameText(max = 200) {
  return z.string().trim().min(1, 'must not be empty').max(max).regex(NO_CONTROL, CONTROL_MESSAGE);
}

/** Text of at most `max` characters in several lines (not trimmed). */
export function multilineText(max: number) {
  return z.string().max(max).regex(NO_CONTROL_EXCEPT_NEWLINES, CONTROL_MESSAGE);
}
