/**
 * Code in chat replies: fenced blocks are split from the prose (which goes through the
 * Markdown sanitizer) and highlighted here as plain tokens that React renders as text spans —
 * the model's text never becomes HTML. A small lexer (comments, strings, numbers, keywords,
 * literals) for the languages replies use most; an unknown language gets the C-like rules.
 * No dependency: see docs/decisions/2026-12-06-chat-code-highlighting.md.
 */
export type ChatBlock =
  | { kind: 'markdown'; text: string }
  | { kind: 'code'; language: string; code: string };

export type TokenKind = 'comment' | 'string' | 'number' | 'keyword' | 'literal';
export interface CodeToken {
  text: string;
  kind?: TokenKind;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)[^\n`]*$/;

/**
 * Splits Markdown at fenced code blocks (CommonMark: ``` or ~~~ at the start of a line, closed
 * by the same character at least as long). A fence still open at the end (a reply streaming)
 * runs to the end.
 */
export function splitFences(text: string): ChatBlock[] {
  const blocks: ChatBlock[] = [];
  const lines = text.split('\n');
  let prose: string[] = [];
  let code: string[] | undefined;
  let fence = '';
  let language = '';
  const flushProse = () => {
    if (prose.some((line) => line.trim()))
      blocks.push({ kind: 'markdown', text: prose.join('\n') });
    prose = [];
  };
  for (const line of lines) {
    if (code === undefined) {
      const open = FENCE.exec(line);
      if (open) {
        flushProse();
        code = [];
        fence = open[1]!;
        language = open[2]!.toLowerCase();
      } else prose.push(line);
      continue;
    }
    const trimmed = line.trim();
    if (trimmed.length >= fence.length && trimmed === fence[0]!.repeat(trimmed.length)) {
      blocks.push({ kind: 'code', language, code: code.join('\n') });
      code = undefined;
    } else code.push(line);
  }
  if (code !== undefined) blocks.push({ kind: 'code', language, code: code.join('\n') });
  flushProse();
  return blocks;
}

interface Grammar {
  lineComment: string[];
  blockComment: boolean;
  backtick: boolean;
  keywords: Set<string>;
  literals: Set<string>;
  caseInsensitive?: boolean;
}

const words = (list: string) => new Set(list.split(/\s+/).filter(Boolean));

const C_LIKE_LITERALS = words('true false null undefined nil NaN Infinity this self super');
const JS = words(`
  abstract as async await break case catch class const continue debugger default delete do else
  enum export extends finally for from function get if implements import in instanceof interface
  let new of package private protected public readonly return set static switch throw try type
  typeof var void while with yield`);
const PY = words(`
  and as assert async await break class continue def del elif else except finally for from global
  if import in is lambda match case nonlocal not or pass raise return try while with yield`);
const SHELL = words(`
  if then else elif fi for while until do done case esac in function return local export readonly
  echo cd set unset exit source`);
const SQL = words(`
  select from where and or not insert into values update set delete create table view index drop
  alter add column primary key foreign references join left right inner outer full cross on using
  group by order having limit offset distinct as case when then else end union all exists in is
  like between with returning asc desc count sum avg min max cast`);
const C_FAMILY = words(`
  auto break case catch char class const continue default do double else enum extern float for
  goto if inline int long namespace new private protected public register return short signed
  sizeof static struct switch template throw try typedef union unsigned using virtual void
  volatile while fn let mut impl trait pub use mod match loop move ref where func package import
  go defer chan map range type var interface select struct final extends implements boolean byte
  string bool`);

const grammar = (language: string): Grammar => {
  switch (language) {
    case 'js':
    case 'jsx':
    case 'ts':
    case 'tsx':
    case 'javascript':
    case 'typescript':
    case 'json':
      return {
        lineComment: ['//'],
        blockComment: true,
        backtick: true,
        keywords: JS,
        literals: C_LIKE_LITERALS,
      };
    case 'py':
    case 'python':
      return {
        lineComment: ['#'],
        blockComment: false,
        backtick: false,
        keywords: PY,
        literals: words('True False None self'),
      };
    case 'sh':
    case 'bash':
    case 'shell':
    case 'zsh':
    case 'console':
    case 'yaml':
    case 'yml':
    case 'toml':
      return {
        lineComment: ['#'],
        blockComment: false,
        backtick: false,
        keywords: SHELL,
        literals: words('true false null'),
      };
    case 'sql':
    case 'pgsql':
    case 'postgresql':
      return {
        lineComment: ['--'],
        blockComment: true,
        backtick: false,
        keywords: SQL,
        literals: words('true false null'),
        caseInsensitive: true,
      };
    default:
      return {
        lineComment: ['//'],
        blockComment: true,
        backtick: false,
        keywords: C_FAMILY,
        literals: C_LIKE_LITERALS,
      };
  }
};

const NUMBER = /0[xX][0-9a-fA-F_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?/y;
const WORD = /[A-Za-z_$][\w$]*/y;

/** The tokens of `code` in `language`; concatenated, their text is exactly `code`. */
export function highlightCode(code: string, language: string): CodeToken[] {
  const rules = grammar(language);
  const tokens: CodeToken[] = [];
  let plain = '';
  const push = (text: string, kind: TokenKind) => {
    if (plain) tokens.push({ text: plain });
    plain = '';
    tokens.push({ text, kind });
  };
  let index = 0;
  while (index < code.length) {
    const char = code[index]!;
    const rest = (length: number) => code.slice(index, index + length);
    const comment = rules.lineComment.find((start) => code.startsWith(start, index));
    if (comment) {
      const end = code.indexOf('\n', index);
      const stop = end === -1 ? code.length : end;
      push(code.slice(index, stop), 'comment');
      index = stop;
      continue;
    }
    if (rules.blockComment && rest(2) === '/*') {
      const end = code.indexOf('*/', index + 2);
      const stop = end === -1 ? code.length : end + 2;
      push(code.slice(index, stop), 'comment');
      index = stop;
      continue;
    }
    if (char === '"' || char === "'" || (char === '`' && rules.backtick)) {
      let stop = index + 1;
      while (stop < code.length && code[stop] !== char) {
        // A string ends at its line's end unless it is a template literal.
        if (code[stop] === '\n' && char !== '`') break;
        stop += code[stop] === '\\' ? 2 : 1;
      }
      stop = Math.min(code.length, stop + (code[stop] === char ? 1 : 0));
      push(code.slice(index, stop), 'string');
      index = stop;
      continue;
    }
    const previous = index > 0 ? code[index - 1]! : ' ';
    if (/[0-9.]/.test(char) && !/[\w$]/.test(previous)) {
      NUMBER.lastIndex = index;
      const number = NUMBER.exec(code);
      if (number && number[0] !== '.' && /\d/.test(number[0])) {
        push(number[0], 'number');
        index += number[0].length;
        continue;
      }
    }
    if (/[A-Za-z_$]/.test(char) && !/[\w$]/.test(previous)) {
      WORD.lastIndex = index;
      const word = WORD.exec(code)![0];
      const key = rules.caseInsensitive ? word.toLowerCase() : word;
      if (rules.keywords.has(key)) push(word, 'keyword');
      else if (rules.literals.has(key)) push(word, 'literal');
      else plain += word;
      index += word.length;
      continue;
    }
    plain += char;
    index += 1;
  }
  if (plain) tokens.push({ text: plain });
  return tokens;
}
