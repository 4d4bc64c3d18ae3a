import { EXPORT_FORMATS, sheetApi } from '../api/sheet-api.ts';
import { Menu } from '../ui/menu.tsx';

const LABELS: Record<(typeof EXPORT_FORMATS)[number], string> = {
  csv: 'CSV',
  tsv: 'TSV',
  jsonl: 'JSON Lines',
  parquet: 'Parquet',
  xlsx: 'Excel (XLSX)',
};

/** Downloads go straight to the streamed export route (same origin, session cookie). */
export function ExportMenu({ projectId, datasetId }: { projectId: string; datasetId: string }) {
  return (
    <Menu label="Export ▾" className="menu-button">
      {EXPORT_FORMATS.map((format) => (
        <a
          key={format}
          role="menuitem"
          href={sheetApi.exportUrl(projectId, datasetId, format)}
          download
        >
          {LABELS[format]}
        </a>
      ))}
      <hr />
      <a role="menuitem" href={sheetApi.exportUrl(projectId, datasetId, 'jsonl', true)} download>
        JSON Lines with cell status
      </a>
    </Menu>
  );
}
