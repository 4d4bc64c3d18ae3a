/**
 * What a publish writes beside the data (docs/images.md "Publish to the Hub"): the dataset card
 * (`README.md`, YAML front matter the Hub reads — configs, features — then the columns with
 * their prompts and models) and `braincells.json`, which describes every AI column so the
 * dataset can be regenerated elsewhere. Pure functions: names, prompts and models are data, so
 * every YAML scalar is a JSON string (valid YAML) and every prompt sits in a fence longer than
 * any run of backticks it holds.
 */
export const DATA_FILE = 'data/train-00000-of-00001.parquet';
export const CONFIG_FILE = 'braincells.json';
export const CARD_FILE = 'README.md';

export interface CardColumn {
  name: string;
  type: 'text' | 'integer' | 'number' | 'boolean' | 'date' | 'timestamp' | 'json' | 'image';
  kind: 'static' | 'formula' | 'ai';
  formula: string | null;
  /** An AI column's process, as the AI-column use cases present it. */
  ai?: {
    prompt: string;
    instructions: string | null;
    /** This installation's provider connection id (null: the default); the model names it elsewhere. */
    provider: string | null;
    model: string;
    parameters: unknown;
    output: unknown;
    search: unknown;
    /** The names of the columns its prompt reads. */
    inputs: string[];
  };
}

export interface CardInput {
  name: string;
  rows: number;
  columns: readonly CardColumn[];
  publishedAt: Date;
}

/** The Hugging Face `datasets` feature type of each column type. */
const DTYPES: Record<CardColumn['type'], string> = {
  text: 'string',
  integer: 'int64',
  number: 'float64',
  boolean: 'bool',
  date: 'date32',
  timestamp: 'timestamp[us]',
  json: 'string',
  image: 'image',
};

const yaml = (text: string) => JSON.stringify(text);

/** One line of a Markdown table cell: no pipe, no line break, no HTML. */
const cellText = (text: string) =>
  text
    .replace(/[\r\n]+/g, ' ')
    .replaceAll('\\', '\\\\')
    .replaceAll('|', '\\|')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;');

/** A fenced block that no backtick run inside the text can close. */
function fenced(text: string, language = 'text'): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${language}\n${text}\n${fence}`;
}

export function datasetConfig(input: CardInput) {
  return {
    format: 'braincells-dataset',
    version: 1,
    name: input.name,
    rows: input.rows,
    publishedAt: input.publishedAt.toISOString(),
    data: DATA_FILE,
    columns: input.columns.map((column) => ({
      name: column.name,
      type: column.type,
      kind: column.kind,
      ...(column.kind === 'formula' ? { formula: column.formula } : {}),
      ...(column.ai ? { ai: column.ai } : {}),
    })),
  };
}

export function datasetCard(input: CardInput): string {
  const front = [
    '---',
    `pretty_name: ${yaml(input.name)}`,
    'tags:',
    '- braincells',
    'configs:',
    '- config_name: default',
    '  data_files:',
    '  - split: train',
    `    path: ${yaml(DATA_FILE)}`,
    'dataset_info:',
    '  features:',
    ...input.columns.flatMap((column) => [
      `  - name: ${yaml(column.name)}`,
      `    dtype: ${DTYPES[column.type]}`,
    ]),
    '  splits:',
    '  - name: train',
    `    num_examples: ${input.rows}`,
    '---',
  ];
  const title = input.name.replace(/[\r\n]+/g, ' ');
  const body = [
    '',
    `# ${cellText(title)}`,
    '',
    `Published from Brain Cells on ${input.publishedAt.toISOString().slice(0, 10)}: ${input.rows} rows, ${input.columns.length} columns. \`${CONFIG_FILE}\` describes every AI column (prompt, model, parameters, output) so the dataset can be regenerated elsewhere.`,
    '',
    '## Columns',
    '',
    '| Column | Type | Made by |',
    '| --- | --- | --- |',
    ...input.columns.map(
      (column) =>
        `| ${cellText(column.name)} | ${column.type} | ${
          column.ai
            ? `AI: ${cellText(column.ai.model)}`
            : column.kind === 'formula'
              ? 'formula'
              : 'data'
        } |`,
    ),
  ];
  for (const column of input.columns) {
    if (!column.ai) continue;
    body.push(
      '',
      `### ${cellText(column.name)}`,
      '',
      `- Model: ${cellText(column.ai.model)}`,
      ...(column.ai.inputs.length > 0
        ? [`- Reads: ${column.ai.inputs.map(cellText).join(', ')}`]
        : []),
      '',
      'Prompt:',
      '',
      fenced(column.ai.prompt),
    );
    if (column.ai.instructions) body.push('', 'Instructions:', '', fenced(column.ai.instructions));
  }
  return `${[...front, ...body].join('\n')}\n`;
}
